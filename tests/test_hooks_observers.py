"""Observer hooks: every event delivered in order, never waited for, failures contained."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest

from qxub_core.hooks import hookimpl
from qxub_core.plugins import Plugins
from qxub_core.spec import JobSpec
from qxub_core.usage import Usage

pytestmark = pytest.mark.timeout(30)


class Recorder:
    """Writes down every event it is told about, as (hook, job id, detail)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, object]] = []
        self.usage_seen = threading.Event()

    @hookimpl
    def qxub_job_submitted(self, spec: JobSpec, job_id: str, scheduler: str) -> None:
        self.events.append(("submitted", job_id, (spec.name, scheduler)))

    @hookimpl
    def qxub_job_started(self, job_id: str, host: str) -> None:
        self.events.append(("started", job_id, host))

    @hookimpl
    def qxub_job_finished(self, job_id: str, exit_code: int, reason: str | None) -> None:
        self.events.append(("finished", job_id, (exit_code, reason)))

    @hookimpl
    def qxub_usage_collected(self, job_id: str, usage: Usage) -> None:
        self.events.append(("usage", job_id, usage.source))
        self.usage_seen.set()


class RaisesOnStart(Recorder):
    @hookimpl
    def qxub_job_started(self, job_id: str, host: str) -> None:
        raise RuntimeError(f"cannot reach the lab dashboard for {job_id}")


class BlocksOnSubmit(Recorder):
    def __init__(self) -> None:
        super().__init__()
        self.entered = threading.Event()
        self.release = threading.Event()

    @hookimpl
    def qxub_job_submitted(self, spec: JobSpec, job_id: str, scheduler: str) -> None:
        self.entered.set()
        self.release.wait()
        super().qxub_job_submitted(spec, job_id, scheduler)


def tell_whole_lifecycle(plugins: Plugins, job_dir: Path) -> None:
    spec = JobSpec(command=("true",), name="align", workdir=job_dir)
    plugins.job_submitted(spec, "7.server", job_dir, "pbs")
    plugins.job_started("7.server", job_dir, "node1")
    plugins.job_finished("7.server", job_dir, 3, None)
    plugins.usage_collected("7.server", job_dir, Usage(job_id="7.server", source="pbs-qstat"))


LIFECYCLE = [
    ("submitted", "7.server", ("align", "pbs")),
    ("started", "7.server", "node1"),
    ("finished", "7.server", (3, None)),
    ("usage", "7.server", "pbs-qstat"),
]


@pytest.fixture
def plugins() -> Plugins:
    return Plugins(entry_points=False)


def test_an_observer_gets_every_event_in_order(plugins: Plugins, tmp_path: Path) -> None:
    recorder = Recorder()
    plugins.register(recorder)

    tell_whole_lifecycle(plugins, tmp_path)

    assert plugins.drain_observers(timeout_s=10)
    assert recorder.events == LIFECYCLE


def test_observers_run_off_the_calling_thread(plugins: Plugins, tmp_path: Path) -> None:
    threads: list[threading.Thread] = []

    class WhichThread:
        @hookimpl
        def qxub_job_started(self) -> None:
            threads.append(threading.current_thread())

    plugins.register(WhichThread())
    plugins.job_started("1", tmp_path, "node1")

    assert plugins.drain_observers(timeout_s=10)
    assert threads and threads[0] is not threading.current_thread()


def test_an_observer_that_raises_is_logged_and_skipped(
    plugins: Plugins, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    failing, healthy = RaisesOnStart(), Recorder()
    plugins.register(failing, name="dashboard")
    plugins.register(healthy, name="healthy")

    with caplog.at_level(logging.WARNING, logger="qxub"):
        tell_whole_lifecycle(plugins, tmp_path)
        assert plugins.drain_observers(timeout_s=10)

    assert healthy.events == LIFECYCLE
    assert failing.events == [event for event in LIFECYCLE if event[0] != "started"]
    [warning] = [record.getMessage() for record in caplog.records]
    assert warning.startswith("plugin dashboard: qxub_job_started raised RuntimeError:")
    assert "cannot reach the lab dashboard for 7.server" in warning
    assert f"{__file__}:" in warning


def test_an_observer_that_blocks_holds_up_nobody_else(plugins: Plugins, tmp_path: Path) -> None:
    blocking, healthy = BlocksOnSubmit(), Recorder()
    plugins.register(blocking, name="blocking")
    plugins.register(healthy, name="healthy")

    tell_whole_lifecycle(plugins, tmp_path)
    assert blocking.entered.wait(timeout=10)

    assert healthy.usage_seen.wait(timeout=10)
    assert healthy.events == LIFECYCLE
    assert not plugins.drain_observers(timeout_s=0.05)
    assert blocking.events == []

    blocking.release.set()
    assert plugins.drain_observers(timeout_s=10)
    assert blocking.events == LIFECYCLE


def test_an_observer_may_declare_only_what_it_needs(plugins: Plugins, tmp_path: Path) -> None:
    codes: list[int] = []

    class CodesOnly:
        @hookimpl
        def qxub_job_finished(self, exit_code: int) -> None:
            codes.append(exit_code)

    plugins.register(CodesOnly())
    plugins.job_finished("1", tmp_path, 0, None)
    plugins.job_finished("2", tmp_path, 124, "walltime limit exceeded")

    assert plugins.drain_observers(timeout_s=10)
    assert codes == [0, 124]


def test_draining_without_observers_is_immediate(plugins: Plugins, tmp_path: Path) -> None:
    plugins.job_finished("1", tmp_path, 0, None)

    assert plugins.drain_observers(timeout_s=0)
