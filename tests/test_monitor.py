"""The monitor's decisions, driven tick by tick with a clock the test moves.

The scheduler here is a double at the adapter contract: the test sets what ``query`` answers and
counts the calls, since the point is when and how often the monitor asks, and what it concludes.
"""

from __future__ import annotations

import io
import itertools
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from qxub_core.monitor import Monitor, MonitorSettings
from qxub_core.schedulers.base import JobPhase, JobState, Scheduler, SchedulerError
from qxub_core.spec import JobSpec
from qxub_core.status import write_atomically
from qxub_core.stream import FileFollower, Sink
from qxub_core.usage import Usage

pytestmark = pytest.mark.timeout(30)
SETTINGS = MonitorSettings(poll_interval_s=0.1, fallback_interval_s=60, grace_period_s=10)


class AnsweringScheduler(Scheduler):
    """Answers ``query`` from ``answers``; raises when ``failing`` is set; records each call."""

    name = "answering"
    job_id_variable = "QXUB_TEST_JOB_ID"

    def __init__(self) -> None:
        super().__init__()
        self.answers: dict[str, JobState] = {}
        self.failing = False
        self.queries: list[list[str]] = []
        self.cancels: list[list[str]] = []
        self.cancel_failing = False

    def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        self.queries.append(list(job_ids))
        if self.failing:
            raise SchedulerError("server busy", transient=True)
        running = JobState("", JobPhase.RUNNING)
        return {job_id: self.answers.get(job_id, running) for job_id in job_ids}

    def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
        return []

    def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
        return []

    def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
        return ""

    def cancel(self, job_ids: Sequence[str]) -> None:
        self.cancels.append(list(job_ids))
        if self.cancel_failing:
            raise SchedulerError("qdel: Server unreachable", transient=True)

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        return None


class Clock:
    def __init__(self) -> None:
        self.now_s = 1000.0

    def __call__(self) -> float:
        return self.now_s


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def scheduler() -> AnsweringScheduler:
    return AnsweringScheduler()


@pytest.fixture
def monitor(scheduler: AnsweringScheduler, clock: Clock) -> Monitor:
    return Monitor(scheduler, SETTINGS, clock=clock)


def job_dir_for(tmp_path: Path, job_id: str) -> Path:
    job_dir = tmp_path / job_id
    job_dir.mkdir()
    return job_dir


def write_final(job_dir: Path, job_id: str, text: str) -> None:
    write_atomically(job_dir / f"final_exit_code_{job_id}", text)


def test_job_that_ended_before_the_monitor_started_is_drained_whole(
    monitor: Monitor, tmp_path: Path
) -> None:
    job_dir = job_dir_for(tmp_path, "j1")
    (job_dir / "out").write_bytes(b"all of it\nno newline")
    write_final(job_dir, "j1", "3\n")
    stdout = io.BytesIO()
    monitor.follow("j1", job_dir, [FileFollower(job_dir / "out", [Sink(stdout, "stdout")])])

    outcomes = monitor.run()

    assert outcomes is not None and outcomes[0].exit_code == 3
    assert stdout.getvalue() == b"all of it\nno newline"
    assert monitor.coordinator.job_finished.is_set()


def test_scheduler_is_asked_only_at_the_fallback_interval_in_one_batch(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    for job_id in ("a", "b"):
        monitor.follow(job_id, job_dir_for(tmp_path, job_id))

    for _ in range(599):
        clock.now_s += 0.1
        monitor.tick()
    assert scheduler.queries == []

    clock.now_s += 0.2
    monitor.tick()
    assert scheduler.queries == [["a", "b"]]


def test_failed_queries_back_off(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    monitor.follow("a", job_dir_for(tmp_path, "a"))
    scheduler.failing = True

    asked_at = []
    for _ in range(16000):
        clock.now_s += 0.1
        before = len(scheduler.queries)
        monitor.tick()
        if len(scheduler.queries) > before:
            asked_at.append(clock.now_s)

    gaps = [round(later - earlier) for earlier, later in itertools.pairwise(asked_at)]
    assert gaps[:4] == [120, 240, 480, 480]


def test_scheduler_end_without_final_file_waits_the_grace_period(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    monitor.follow("a", job_dir_for(tmp_path, "a"))
    scheduler.answers["a"] = JobState("a", JobPhase.ENDED, "F", exit_code=137)
    clock.now_s += 61
    monitor.tick()

    clock.now_s += 9
    monitor.tick()
    assert monitor.jobs["a"].outcome is None

    clock.now_s += 1.5
    monitor.tick()
    outcome = monitor.jobs["a"].outcome
    assert outcome is not None and (outcome.exit_code, outcome.source) == (137, "scheduler")


def test_final_file_arriving_in_the_grace_period_wins(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    job_dir = job_dir_for(tmp_path, "a")
    monitor.follow("a", job_dir)
    scheduler.answers["a"] = JobState("a", JobPhase.ENDED, "F", exit_code=None)
    clock.now_s += 61
    monitor.tick()

    write_final(job_dir, "a", "0\n")
    clock.now_s += 1
    monitor.tick()

    outcome = monitor.jobs["a"].outcome
    assert outcome is not None and (outcome.exit_code, outcome.source) == (0, "status file")


def test_job_the_scheduler_forgot_is_never_ran_with_a_reason(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    monitor.follow("a", job_dir_for(tmp_path, "a"))
    scheduler.answers["a"] = JobState("a", JobPhase.UNKNOWN)
    clock.now_s += 61
    monitor.tick()
    clock.now_s += 11
    monitor.tick()

    outcome = monitor.jobs["a"].outcome
    assert outcome is not None and outcome.exit_code == 125
    assert outcome.reason is not None and "no longer knows" in outcome.reason


def test_signal_in_final_file_asks_the_scheduler_how_it_ended(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    job_dir = job_dir_for(tmp_path, "a")
    monitor.follow("a", job_dir)
    write_final(job_dir, "a", "143\nsignal: TERM\n")
    monitor.tick()
    assert monitor.jobs["a"].outcome is None

    scheduler.answers["a"] = JobState("a", JobPhase.ENDED, "walltime", 124, "walltime exceeded")
    clock.now_s += 0.3
    monitor.tick()

    outcome = monitor.jobs["a"].outcome
    assert outcome is not None and (outcome.exit_code, outcome.reason) == (124, "walltime exceeded")


def test_signal_without_a_scheduler_answer_keeps_the_final_code_after_grace(
    monitor: Monitor, clock: Clock, tmp_path: Path
) -> None:
    job_dir = job_dir_for(tmp_path, "a")
    monitor.follow("a", job_dir)
    write_final(job_dir, "a", "143\nsignal: TERM\n")

    for _ in range(60):
        clock.now_s += 0.2
        monitor.tick()

    outcome = monitor.jobs["a"].outcome
    assert outcome is not None and outcome.exit_code == 143


@pytest.mark.parametrize(
    ("final_text", "reason_part"),
    [
        ("125\ncontext: conda environment 'nope' not found\n", "conda environment 'nope'"),
        ("not a number\n", "unreadable"),
    ],
)
def test_context_failure_and_garbage_are_125_with_a_reason(
    monitor: Monitor, tmp_path: Path, final_text: str, reason_part: str
) -> None:
    job_dir = job_dir_for(tmp_path, "a")
    monitor.follow("a", job_dir)
    write_final(job_dir, "a", final_text)

    outcomes = monitor.run()

    assert outcomes is not None and outcomes[0].exit_code == 125
    assert outcomes[0].reason is not None and reason_part in outcomes[0].reason


def test_shutdown_request_stops_the_loop(monitor: Monitor, tmp_path: Path) -> None:
    monitor.follow("a", job_dir_for(tmp_path, "a"))
    monitor.coordinator.request_shutdown(2)

    assert monitor.run() is None
    assert monitor.coordinator.shutdown_signal == 2


def test_started_file_sets_the_running_event(monitor: Monitor, tmp_path: Path) -> None:
    job_dir = job_dir_for(tmp_path, "a")
    monitor.follow("a", job_dir)
    monitor.tick()
    assert not monitor.coordinator.job_running.is_set()

    (job_dir / "job_started_a").write_text("1700000000.5 node1 a\n")
    monitor.tick()

    assert monitor.coordinator.job_running.is_set()
    assert monitor.jobs["a"].started is not None and monitor.jobs["a"].started.host == "node1"


def test_a_removed_job_directory_is_found_at_the_fallback_round_and_the_job_cancelled(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    removed = job_dir_for(tmp_path, "a")
    monitor.follow("a", removed)
    monitor.follow("b", job_dir_for(tmp_path, "b"))
    shutil.rmtree(removed)

    clock.now_s += 30
    monitor.tick()
    assert scheduler.cancels == [] and len(monitor.active_jobs) == 2

    clock.now_s += 31
    monitor.tick()

    assert scheduler.cancels == [["a"]]
    assert scheduler.queries == [["b"]]
    outcome = monitor.jobs["a"].outcome
    assert outcome is not None and outcome.exit_code == 125
    assert outcome.reason == (
        f"its job directory {removed} was removed; "
        "qxub cancelled the job, as it can no longer follow it"
    )
    assert [job.job_id for job in monitor.active_jobs] == ["b"]


def test_a_directory_the_watch_saw_go_is_looked_at_in_the_next_tick(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    job_dir = job_dir_for(tmp_path, "a")
    monitor.follow("a", job_dir)
    job_dir.rename(tmp_path / "elsewhere")

    monitor.job_dir_went_away()
    clock.now_s += 0.1
    monitor.tick()

    assert scheduler.cancels == [["a"]]
    assert monitor.jobs["a"].outcome is not None
    assert monitor.jobs["a"].outcome.exit_code == 125


def test_a_failed_cancel_of_a_job_without_its_directory_says_it_may_still_run(
    monitor: Monitor, scheduler: AnsweringScheduler, clock: Clock, tmp_path: Path
) -> None:
    job_dir = job_dir_for(tmp_path, "a")
    monitor.follow("a", job_dir)
    job_dir.rmdir()
    scheduler.cancel_failing = True

    monitor.job_dir_went_away()
    monitor.tick()

    outcome = monitor.jobs["a"].outcome
    assert outcome is not None and outcome.exit_code == 125
    assert outcome.reason == (
        f"its job directory {job_dir} was removed; cancelling the job failed "
        "(qdel: Server unreachable): it may still be running"
    )


def test_a_job_with_its_final_file_keeps_its_code_when_its_directory_goes(
    monitor: Monitor, scheduler: AnsweringScheduler, tmp_path: Path
) -> None:
    job_dir = job_dir_for(tmp_path, "a")
    monitor.follow("a", job_dir)
    write_final(job_dir, "a", "3\n")

    monitor.job_dir_went_away()
    monitor.tick()
    shutil.rmtree(job_dir)
    monitor.job_dir_went_away()
    monitor.tick()

    assert scheduler.cancels == []
    assert monitor.jobs["a"].outcome is not None
    assert monitor.jobs["a"].outcome.exit_code == 3
