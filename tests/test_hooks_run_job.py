"""The command line's run path fires the same hooks as the Python API, and never waits long."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from qxub_core.environment import capture_environment
from qxub_core.hooks import hookimpl
from qxub_core.job import Mode, RunOptions, run_job
from qxub_core.plugins import Plugins
from qxub_core.schedulers.local import LocalScheduler
from qxub_core.spec import JobSpec

pytestmark = pytest.mark.timeout(60)


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.usage_seen = threading.Event()

    @hookimpl
    def qxub_job_submitted(self, spec: JobSpec, scheduler: str) -> None:
        self.events.append(f"submitted {spec.name} to {scheduler}")

    @hookimpl
    def qxub_job_started(self, host: str) -> None:
        self.events.append("started")

    @hookimpl
    def qxub_job_finished(self, exit_code: int, reason: str | None) -> None:
        self.events.append(f"finished {exit_code} {reason}")

    @hookimpl
    def qxub_usage_collected(self) -> None:
        self.events.append("usage")
        self.usage_seen.set()


def run(job_root: Path, plugins: Plugins, *command: str) -> tuple[int, bytes]:
    stdout = io.BytesIO()
    spec = JobSpec(
        command=command, name="cli", environment=capture_environment(), workdir=job_root.parent
    )
    options = RunOptions(
        job_root=job_root,
        mode=Mode.NORMAL,
        poll_interval_s=0.02,
        fallback_interval_s=1,
        grace_period_s=1,
        interactive=False,
        stdout=stdout,
        stderr=io.BytesIO(),
        plugins=plugins,
    )
    scheduler = LocalScheduler({"job_root": str(job_root)})
    return run_job(spec, scheduler, options), stdout.getvalue()


def test_run_job_tells_observers_the_whole_lifecycle(tmp_path: Path) -> None:
    plugins = Plugins(entry_points=False)
    recorder = Recorder()
    plugins.register(recorder)

    code, _ = run(tmp_path / "jobs", plugins, "sh", "-c", "exit 6")

    assert code == 6
    assert recorder.usage_seen.wait(timeout=30)
    assert recorder.events == ["submitted cli to local", "started", "finished 6 None", "usage"]


def test_run_job_returns_while_an_observer_is_blocked(tmp_path: Path) -> None:
    plugins = Plugins(entry_points=False)
    release = threading.Event()
    recorder = Recorder()

    class Blocking:
        @hookimpl
        def qxub_job_submitted(self) -> None:
            release.wait()

    plugins.register(Blocking())
    plugins.register(recorder)
    try:
        code, stdout = run(tmp_path / "jobs", plugins, "echo", "hello")
        assert (code, stdout) == (0, b"hello\n")
        assert recorder.usage_seen.wait(timeout=30)
        assert recorder.events == [
            "submitted cli to local",
            "started",
            "finished 0 None",
            "usage",
        ]
    finally:
        release.set()


def test_a_plugin_prologue_runs_without_changing_the_exit_code(tmp_path: Path) -> None:
    plugins = Plugins(entry_points=False)
    marker = tmp_path / "prologue-ran"

    class Site:
        @hookimpl
        def qxub_prologue(self) -> list[str]:
            return [f"touch {marker}", "exit 9"]

    plugins.register(Site())
    code, stdout = run(tmp_path / "jobs", plugins, "echo", "job ran")

    assert (code, stdout) == (0, b"job ran\n")
    assert marker.exists()
