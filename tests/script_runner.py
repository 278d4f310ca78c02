"""Running a rendered job script directly with bash, as a scheduler would, in a temp job dir."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import replace
from pathlib import Path

from qxub_core.environment import write_environment_file
from qxub_core.plugins import Plugins
from qxub_core.schedulers.local import LocalScheduler
from qxub_core.script import render_script, write_script
from qxub_core.spec import JobSpec
from qxub_core.status import started_path

JOB_ID = "test-1"
WAIT_STEP_S = 0.02

# Every job script started here, so that teardown can end whatever is left of them.
_started: list[subprocess.Popen[bytes]] = []


def prepare_job(job_dir: Path, spec: JobSpec, plugins: Plugins | None = None) -> Path:
    """Write the environment file and the script of ``spec`` into ``job_dir``; the script path."""
    job_dir.mkdir(mode=0o700, exist_ok=True)
    if spec.environment is not None:
        write_environment_file(job_dir, spec.environment)
    text = render_script(spec, LocalScheduler(), job_dir, plugins=plugins)
    return write_script(job_dir, text)


def start_job(
    job_dir: Path,
    spec: JobSpec,
    environ: Mapping[str, str] | None = None,
    plugins: Plugins | None = None,
) -> subprocess.Popen[bytes]:
    """Start the job script in its own session, as the local backend's supervisor would."""
    script = prepare_job(job_dir, spec, plugins)
    env = {**(os.environ if environ is None else environ), "QXUB_LOCAL_JOB_ID": JOB_ID}
    with _sigint_not_ignored():
        process = subprocess.Popen(
            ["bash", str(script)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
    _started.append(process)
    return process


def end_started_jobs() -> None:
    """SIGKILL the process group of every job script started here, ended or not: a command it
    left behind is still in that group."""
    while _started:
        process = _started.pop()
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def _sigint_not_ignored() -> Iterator[None]:
    """A test run started in the background ignores SIGINT, and so would the job script; a
    scheduler starts it with SIGINT at its default, so give it that."""
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        yield
        return
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_job(
    job_dir: Path,
    spec: JobSpec,
    environ: Mapping[str, str] | None = None,
    plugins: Plugins | None = None,
) -> tuple[int, str]:
    """Run the job to its end; bash's return code and the final status file's text."""
    process = start_job(job_dir, spec, environ, plugins)
    returncode = process.wait(timeout=60)

    final = job_dir / f"final_exit_code_{JOB_ID}"
    return returncode, final.read_text() if final.exists() else ""


def wait_for_start(job_dir: Path) -> None:
    """Block until the job script has written its started file (the test timeout bounds it)."""
    while not started_path(job_dir, JOB_ID).exists():
        time.sleep(WAIT_STEP_S)


def with_environment(spec: JobSpec) -> JobSpec:
    """``spec`` carrying this process's environment, as the command line gives it."""
    return replace(spec, environment=dict(os.environ))
