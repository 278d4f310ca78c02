"""The Python API on the local backend: handles, batches, exceptions and the hooks it fires."""

from __future__ import annotations

import stat
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from qxub_core.api import (
    JobCancelled,
    JobNeverRan,
    JobTimeout,
    Session,
    SessionError,
    SubmissionRefused,
    as_completed,
    job_spec,
    wait_all,
    wait_any,
)
from qxub_core.hooks import hookimpl
from qxub_core.plugins import Plugins
from qxub_core.schedulers.base import JobPhase
from qxub_core.schedulers.command import CommandPolicy, run_scheduler_command
from qxub_core.schedulers.local import LocalScheduler
from qxub_core.spec import ContextSpec, JobSpec, SpecError
from qxub_core.usage import Usage

pytestmark = pytest.mark.timeout(60)

FAST = {"poll_interval_s": 0.05, "fallback_interval_s": 1, "grace_period_s": 1}


@pytest.fixture
def plugins() -> Plugins:
    return Plugins(entry_points=False)


@pytest.fixture
def session(tmp_path: Path, plugins: Plugins) -> Session:
    return Session("local", options={**FAST, "job_root": tmp_path / "jobs"}, plugins=plugins)


def shell(line: str, **fields: Any) -> JobSpec:
    return job_spec(["bash", "-c", line], **fields)


def monitor_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "qxub-monitor"]


def test_a_job_returns_its_own_exit_code_and_output(session: Session) -> None:
    job = session.submit(shell("printf 'one\\n'; printf 'oops' >&2; printf 'two'; exit 3"))

    streamed = b"".join(job.output())

    assert job.wait(timeout=30) == 3
    assert streamed == b"one\ntwo"
    assert job.out_path.read_bytes() == b"one\ntwo"
    assert job.err_path.read_bytes() == b"oops"
    assert job.state is JobPhase.ENDED
    assert job.reason is None


def test_output_arrives_while_the_job_runs(session: Session, tmp_path: Path) -> None:
    release = tmp_path / "release"
    job = session.submit(
        shell(f"echo first; while [ ! -e {release} ]; do sleep 0.05; done; echo second")
    )
    chunks = job.output()

    assert next(chunks) == b"first\n"
    assert not job.done()
    release.touch()
    assert b"".join(chunks) == b"second\n"
    assert job.wait(timeout=30) == 0


def test_the_usage_record_is_collected_and_saved(session: Session) -> None:
    job = session.submit(shell("exit 0", cpus=1))
    job.wait(timeout=30)

    usage = job.usage(timeout=30)

    assert usage is not None
    assert usage.job_id == job.job_id
    assert usage.source == "local-supervisor"
    assert Usage.load(job.job_dir) == usage


def test_waiting_too_long_raises_and_the_job_can_then_be_cancelled(
    session: Session, tmp_path: Path
) -> None:
    job = session.submit(shell("sleep 30"))

    with pytest.raises(JobTimeout):
        job.wait(timeout=0.2)
    assert not job.done()

    job.cancel()
    with pytest.raises(JobCancelled) as raised:
        job.wait(timeout=30)
    assert raised.value.job_id == job.job_id


class MissingRuntime:
    """A site context whose runtime is not installed on this machine."""

    def activation_lines(self, context: ContextSpec) -> list[str]:
        return ["command -v no-such-runtime >/dev/null || qxub_context_failed 'no runtime'"]

    def command_prefix(self, context: ContextSpec) -> list[str]:
        return []


class SiteContexts:
    @hookimpl
    def qxub_context(self, name: str) -> MissingRuntime | None:
        return MissingRuntime() if name == "lab-container" else None


def test_a_context_that_fails_means_the_job_never_ran(session: Session, plugins: Plugins) -> None:
    plugins.register(SiteContexts())
    job = session.submit(shell("echo never", context="lab-container"))

    with pytest.raises(JobNeverRan, match="no runtime") as raised:
        job.wait(timeout=30)
    assert raised.value.job_id == job.job_id
    assert job.out_path.read_bytes() == b""


def refusing_scheduler(executable: Path) -> type[LocalScheduler]:
    class RefusingScheduler(LocalScheduler):
        name = "refusing"

        def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
            done = run_scheduler_command([str(executable)], policy=CommandPolicy(attempts=1))
            return done.stdout.strip()

    return RefusingScheduler


def fake_submit_command(tmp_path: Path, message: str, code: int) -> Path:
    executable = tmp_path / "fake-qsub"
    executable.write_text(f"#!/bin/sh\necho '{message}' >&2\nexit {code}\n")
    executable.chmod(executable.stat().st_mode | stat.S_IXUSR)
    return executable


@pytest.mark.parametrize(
    ("message", "code", "transient"),
    [
        ("qsub: Unknown queue", 170, False),
        ("qsub: cannot connect to server pbs1 (errno=111) Connection refused", 1, True),
    ],
)
def test_a_refused_submission_carries_the_scheduler_message(
    tmp_path: Path, plugins: Plugins, message: str, code: int, transient: bool
) -> None:
    adapter = refusing_scheduler(fake_submit_command(tmp_path, message, code))

    class Refusing:
        @hookimpl
        def qxub_scheduler(self, name: str) -> type[LocalScheduler] | None:
            return adapter if name == "refusing" else None

    plugins.register(Refusing())
    session = Session("refusing", options={**FAST, "job_root": tmp_path}, plugins=plugins)

    with pytest.raises(SubmissionRefused) as raised:
        session.submit(shell("true"))

    assert raised.value.message == message
    assert raised.value.transient is transient
    assert raised.value.command == (str(tmp_path / "fake-qsub"),)


def test_a_batch_is_followed_by_one_monitor_thread(session: Session, tmp_path: Path) -> None:
    gates = [tmp_path / f"gate{index}" for index in range(3)]
    specs = [
        shell(f"while [ ! -e {gate} ]; do sleep 0.05; done; exit {index}")
        for index, gate in enumerate(gates)
    ]
    jobs = session.submit_all(specs)

    assert len(monitor_threads()) == 1
    gates[1].touch()
    assert wait_any(jobs, timeout=30) is jobs[1]

    gates[2].touch()
    gates[0].touch()
    assert wait_all(jobs, timeout=30) == [0, 1, 2]
    for thread in monitor_threads():
        thread.join(timeout=10)
    assert monitor_threads() == []


def test_as_completed_yields_jobs_in_the_order_they_end(session: Session, tmp_path: Path) -> None:
    gates = [tmp_path / f"gate{index}" for index in range(3)]
    jobs = session.submit_all(
        [shell(f"while [ ! -e {gate} ]; do sleep 0.05; done") for gate in gates]
    )

    order = []
    for position in (2, 0, 1):
        gates[position].touch()
        order.append(next(iter(as_completed(job for job in jobs if job not in order))))

    assert order == [jobs[2], jobs[0], jobs[1]]


def test_wait_all_raises_for_a_job_that_never_ran(session: Session, plugins: Plugins) -> None:
    plugins.register(SiteContexts())
    jobs = session.submit_all([shell("exit 0"), shell("true", context="lab-container")])

    with pytest.raises(JobNeverRan, match="no runtime"):
        wait_all(jobs, timeout=30)
    assert jobs[0].wait() == 0


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.usage_seen = threading.Event()

    @hookimpl
    def qxub_job_submitted(self, job_id: str) -> None:
        self.events.append(("submitted", job_id))

    @hookimpl
    def qxub_job_started(self, job_id: str) -> None:
        self.events.append(("started", job_id))

    @hookimpl
    def qxub_job_finished(self, job_id: str, exit_code: int) -> None:
        self.events.append((f"finished {exit_code}", job_id))

    @hookimpl
    def qxub_usage_collected(self, job_id: str) -> None:
        self.events.append(("usage", job_id))
        self.usage_seen.set()


def test_observers_see_the_lifecycle_of_an_api_job(session: Session, plugins: Plugins) -> None:
    recorder = Recorder()
    plugins.register(recorder)

    job = session.submit(shell("exit 4"))
    job.wait(timeout=30)

    assert recorder.usage_seen.wait(timeout=30)
    assert recorder.events == [
        ("submitted", job.job_id),
        ("started", job.job_id),
        ("finished 4", job.job_id),
        ("usage", job.job_id),
    ]


def test_a_blocked_observer_does_not_hold_up_the_job(session: Session, plugins: Plugins) -> None:
    release = threading.Event()

    class Blocking:
        @hookimpl
        def qxub_job_started(self) -> None:
            release.wait()

    class Raising:
        @hookimpl
        def qxub_job_finished(self) -> None:
            raise RuntimeError("observer bug")

    plugins.register(Blocking())
    plugins.register(Raising())

    job = session.submit(shell("exit 5"))
    try:
        assert job.wait(timeout=30) == 5
        assert not plugins.drain_observers(timeout_s=0.05)
    finally:
        release.set()
    assert plugins.drain_observers(timeout_s=30)


class SubmitArgs:
    def __init__(self, words: Sequence[str]) -> None:
        self.words = list(words)

    @hookimpl
    def qxub_submit_args(self) -> list[str]:
        return self.words


def test_plugin_submit_args_join_the_raw_scheduler_args(session: Session, plugins: Plugins) -> None:
    plugins.register(SubmitArgs(["--comment", "lab run 7"]))

    job = session.submit(shell("true", scheduler_args=["--exclusive"]))
    job.wait(timeout=30)

    assert job.spec.scheduler_args == ("--exclusive", "--comment 'lab run 7'")


def test_plugin_submit_args_pass_the_raw_argument_check(tmp_path: Path, plugins: Plugins) -> None:
    from qxub_core.schedulers.pbs import PbsScheduler
    from qxub_core.submission import prepare_job

    plugins.register(SubmitArgs(["-l", "ncpus=8"]))
    spec = shell("true", cpus=2)

    with pytest.raises(SpecError, match="ncpus=8.*--cpus"):
        prepare_job(spec, PbsScheduler({}), tmp_path, plugins)


def test_bad_values_are_refused_before_anything_is_submitted(session: Session) -> None:
    with pytest.raises(SpecError, match="mem: cannot read '16'"):
        shell("true", mem="16")


def test_an_unknown_output_stream_lists_the_valid_ones(session: Session) -> None:
    job = session.submit(shell("true"))

    with pytest.raises(ValueError, match="unknown stream 'stdout'; choose one of out, err"):
        next(job.output("stdout"))
    assert job.wait(timeout=30) == 0


def test_the_directory_watch_is_renewed_as_jobs_end(
    session: Session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import qxub_core.api

    monkeypatch.setattr(qxub_core.api, "STALE_WATCHES_LIMIT", 1)
    gates = [tmp_path / f"gate{index}" for index in range(4)]
    jobs = session.submit_all(
        [
            shell(f"while [ ! -e {gate} ]; do sleep 0.05; done; exit {i}")
            for i, gate in enumerate(gates)
        ]
    )

    for index, gate in enumerate(gates):
        gate.touch()
        assert jobs[index].wait(timeout=30) == index
    assert len(monitor_threads()) <= 1


def test_an_unknown_scheduler_is_a_session_error() -> None:
    with pytest.raises(SessionError, match="unknown scheduler 'nope'") as raised:
        Session("nope")

    assert isinstance(raised.value, ValueError)
