"""A small in-house pipeline runner written against qxub's Python API.

Three steps: ``count_words`` and ``count_lines`` read the same input and run at once; ``report``
depends on both and runs only when both have succeeded, inside the lab's own execution context
(``lab-env``), which a plugin adds. A second plugin records every lifecycle event qxub reports
to a JSON-lines file.

    python inhouse_runner.py --scheduler local --workdir /tmp/run --events /tmp/run/events.jsonl

The runner exits with 0 when every step succeeded, else with the first failing step's exit code.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import threading
import time
from pathlib import Path

from qxub_core.api import Job, Session, SessionError, as_completed, job_spec
from qxub_core.hooks import hookimpl
from qxub_core.plugins import Plugins, default_plugins
from qxub_core.spec import ContextSpec, JobSpec
from qxub_core.usage import Usage

INPUT_TEXT = "the quick brown fox\njumps over\nthe lazy dog\n"
OBSERVER_DRAIN_S = 10.0
USAGE_WAIT_S = 60.0


class EventLog:
    """Observer plugin: one JSON line per event, with the step name the job was submitted as."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.step_of: dict[str, str] = {}
        self.lock = threading.Lock()

    @hookimpl
    def qxub_job_submitted(self, spec: JobSpec, job_id: str, scheduler: str) -> None:
        self.step_of[job_id] = spec.name
        self._write("submitted", job_id, scheduler=scheduler)

    @hookimpl
    def qxub_job_started(self, job_id: str, host: str) -> None:
        self._write("started", job_id, host=host)

    @hookimpl
    def qxub_job_finished(self, job_id: str, exit_code: int, reason: str | None) -> None:
        self._write("finished", job_id, exit_code=exit_code, reason=reason)

    @hookimpl
    def qxub_usage_collected(self, job_id: str, usage: Usage) -> None:
        self._write("usage", job_id, walltime_used_s=usage.walltime_used_s)

    def _write(self, event: str, job_id: str, **details: object) -> None:
        record = {"time": time.time(), "event": event, "step": self.step_of.get(job_id), **details}
        with self.lock, self.path.open("a") as handle:
            handle.write(json.dumps({"job_id": job_id, **record}) + "\n")


class LabEnvironment:
    """The lab's execution context: marks the job's environment, then runs the command as is."""

    def activation_lines(self, context: ContextSpec) -> list[str]:
        return ["export LAB_ENV=active"]

    def command_prefix(self, context: ContextSpec) -> list[str]:
        return []


class LabContexts:
    """Context plugin: provides ``lab-env``."""

    @hookimpl
    def qxub_context(self, name: str) -> LabEnvironment | None:
        return LabEnvironment() if name == "lab-env" else None

    @hookimpl
    def qxub_context_names(self) -> list[str]:
        return ["lab-env"]


def step(name: str, line: str, workdir: Path, context: str | None = None) -> JobSpec:
    """A pipeline step: one shell line run in ``workdir`` (in ``context``, when given)."""
    return job_spec(
        ["bash", "-c", line], name=name, workdir=workdir, walltime="10m", context=context
    )


def run_pipeline(session: Session, workdir: Path) -> int:
    (workdir / "input.txt").write_text(INPUT_TEXT)
    counts = [
        step("count_words", "wc -w < input.txt > words.txt", workdir),
        step("count_lines", "wc -l < input.txt > lines.txt", workdir),
    ]
    first = session.submit_all(counts)

    failed = finish_all(first)
    if failed:
        return failed

    report_line = 'echo "$LAB_ENV words=$(cat words.txt) lines=$(cat lines.txt)" > report.txt'
    report = session.submit(step("report", report_line, workdir, context="lab-env"))
    return finish_all([report])


def finish_all(jobs: list[Job]) -> int:
    """Wait for every job (reporting each as it ends); the first non-zero exit code, or 0."""
    failed = 0
    for job in as_completed(jobs):
        code = job.wait()
        print(f"{job.spec.name}: job {job.job_id} exited {code}", file=sys.stderr)
        failed = failed or code
    for job in jobs:
        job.usage(timeout=USAGE_WAIT_S)
    return failed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scheduler", default="auto")
    parser.add_argument("--workdir", type=Path, required=True)
    parser.add_argument("--events", type=Path, required=True)
    arguments = parser.parse_args(argv)

    plugins: Plugins = default_plugins()
    plugins.register(EventLog(arguments.events), name="event-log")
    plugins.register(LabContexts(), name="lab-contexts")

    arguments.workdir.mkdir(parents=True, exist_ok=True)
    try:
        session = Session(arguments.scheduler, plugins=plugins)
    except SessionError as error:
        print(f"inhouse_runner: {error}", file=sys.stderr)
        return 2
    code = run_pipeline(session, arguments.workdir)

    if not plugins.drain_observers(OBSERVER_DRAIN_S):
        print("some events were not recorded in time", file=sys.stderr)
    print(f"pipeline in {shlex.quote(str(arguments.workdir))} exited {code}", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
