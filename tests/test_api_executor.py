"""The concurrent.futures executor: futures resolve to exit codes, or raise where asked."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Sequence
from pathlib import Path

import pytest

from qxub_core.api import JobFailed, JobNeverRan, Session
from qxub_core.executor import JobExecutor
from qxub_core.hooks import hookimpl
from qxub_core.plugins import Plugins
from qxub_core.schedulers.base import JobPhase, JobState, Scheduler
from qxub_core.spec import JobSpec
from qxub_core.usage import Usage

pytestmark = pytest.mark.timeout(60)

FAST = {"poll_interval_s": 0.05, "fallback_interval_s": 0.2, "grace_period_s": 0.2}


def local_session(tmp_path: Path, plugins: Plugins | None = None) -> Session:
    plugins = plugins or Plugins(entry_points=False)
    return Session("local", options={**FAST, "job_root": tmp_path / "jobs"}, plugins=plugins)


def test_futures_resolve_to_exit_codes(tmp_path: Path) -> None:
    executor = JobExecutor(local_session(tmp_path))

    futures = [executor.submit("sh", "-c", f"exit {code}") for code in (0, 1, 7)]

    assert [future.result(timeout=30) for future in futures] == [0, 1, 7]
    executor.shutdown()


def test_check_makes_a_non_zero_code_raise(tmp_path: Path) -> None:
    with JobExecutor(local_session(tmp_path), check=True) as executor:
        good = executor.submit("true")
        bad = executor.submit("echo failing >&2; exit 3", shell=True)

        assert good.result(timeout=30) == 0
        error = bad.exception(timeout=30)

    assert isinstance(error, JobFailed)
    assert error.exit_code == 3


def test_futures_work_with_the_standard_waiting_functions(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    with JobExecutor(local_session(tmp_path)) as executor:
        slow = executor.submit("sh", "-c", f"while [ ! -e {gate} ]; do sleep 0.05; done; exit 2")
        fast = executor.submit("sh", "-c", "exit 1")

        done, pending = concurrent.futures.wait(
            [slow, fast], timeout=30, return_when="FIRST_COMPLETED"
        )
        assert (done, pending) == ({fast}, {slow})
        gate.touch()
        assert [future.result() for future in concurrent.futures.as_completed([slow], 30)] == [2]


def test_spec_defaults_apply_to_every_submission(tmp_path: Path) -> None:
    with JobExecutor(local_session(tmp_path), name="step", variables={"LAB": "x"}) as executor:
        future = executor.submit("sh", "-c", 'test "$LAB" = x')

        assert future.result(timeout=30) == 0


def test_a_job_that_never_ran_raises_from_its_future(tmp_path: Path) -> None:
    plugins = Plugins(entry_points=False)

    class NoContainer:
        def activation_lines(self, context: object) -> list[str]:
            return ["qxub_context_failed 'site runtime missing'"]

        def command_prefix(self, context: object) -> list[str]:
            return []

    class Site:
        @hookimpl
        def qxub_context(self, name: str) -> NoContainer | None:
            return NoContainer() if name == "site" else None

    plugins.register(Site())
    with JobExecutor(local_session(tmp_path, plugins)) as executor:
        future = executor.submit("true", context="site")

        error = future.exception(timeout=30)

    assert isinstance(error, JobNeverRan)
    assert "site runtime missing" in error.reason


class HeldScheduler(Scheduler):
    """A scheduler that keeps every job queued until it is cancelled."""

    name = "held"
    job_id_variable = "HELD_JOB_ID"
    cancelled: list[str] = []

    def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
        return []

    def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
        return ["hold", str(script)]

    def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
        return f"held.{job_dir.name}"

    def cancel(self, job_ids: Sequence[str]) -> None:
        self.cancelled.extend(job_ids)

    def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        return {job_id: self._state(job_id) for job_id in job_ids}

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        return None

    def _state(self, job_id: str) -> JobState:
        if job_id in self.cancelled:
            return JobState(job_id, JobPhase.ENDED, "deleted", 125, "deleted while queued")
        return JobState(job_id, JobPhase.QUEUED, "Q")


def test_cancelling_a_pending_future_cancels_its_queued_job(tmp_path: Path) -> None:
    plugins = Plugins(entry_points=False)

    class Held:
        @hookimpl
        def qxub_scheduler(self, name: str) -> type[Scheduler] | None:
            return HeldScheduler if name == "held" else None

    plugins.register(Held())
    session = Session("held", options={**FAST, "job_root": tmp_path}, plugins=plugins)
    executor = JobExecutor(session)
    future = executor.submit("true")

    assert future.cancel()

    assert future.cancelled()
    assert HeldScheduler.cancelled and HeldScheduler.cancelled[-1].startswith("held.")
    executor.shutdown(wait=True)


def test_shutdown_refuses_new_work(tmp_path: Path) -> None:
    executor = JobExecutor(local_session(tmp_path))
    executor.shutdown()

    with pytest.raises(RuntimeError, match="after shutdown"):
        executor.submit("true")
