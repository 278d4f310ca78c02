"""The monitor: one loop that follows many jobs through their status files and output files.

Each tick (``poll_interval_s``) the loop checks every followed job's status files and copies
the new bytes of its output files. The scheduler itself is asked rarely: every
``fallback_interval_s``, in one batched query for all jobs without a final status file, with
backoff when it fails (an adapter whose query only reads local files, such as the local backend,
names a shorter interval of its own). That query is what notices a job killed so hard that its
script wrote no final file; the monitor then waits ``grace_period_s`` for the file before taking
the scheduler's word. A final file that reports a signal sends the monitor to the scheduler, for
up to the grace period, to learn whether that signal was a walltime kill or a cancellation.

A job whose directory is removed (or moved away) before its script wrote a final file can no
longer be followed: its status files and output have nowhere to go. The monitor looks for that
at every fallback round, and at once when the directory watch saw a directory go; it cancels
such a job and gives it 125 with the directory named.

When a job has an outcome, the rest of its output is drained and the job is done. The loop knows
nothing of terminals or of the command line: a coordinator's events tell the rest of qxub (the
spinner, the signal handlers) where things stand.
"""

from __future__ import annotations

import errno
import logging
import os
import stat
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from qxub_core import exitcodes
from qxub_core.schedulers.base import JobPhase, JobState, Scheduler, SchedulerError
from qxub_core.status import FinalStatus, JobStarted, read_final, read_started
from qxub_core.stream import FileFollower
from qxub_core.wakeup import DirectoryWatch

logger = logging.getLogger(__name__)

TICK_BUDGET_BYTES = 16 << 20  # per output file and tick, so status checks are never starved
SIGNAL_QUERY_INTERVAL_S = 0.2
JOB_DIR_REMOVED = "job directory removed"  # the outcome's source for a job given up on so
MAX_BACKOFF_FACTOR = 8


class Coordinator:
    """Events shared by the monitor, the spinner and the signal handlers."""

    def __init__(self) -> None:
        self.submission_complete = threading.Event()
        self.job_running = threading.Event()
        self.output_started = threading.Event()
        self.job_finished = threading.Event()
        self.shutdown_requested = threading.Event()
        self.shutdown_signal: int | None = None
        self.signal_count = 0

    def request_shutdown(self, signum: int) -> None:
        """Called from a signal handler: remember the first signal, count them, wake everyone."""
        if self.shutdown_signal is None:
            self.shutdown_signal = signum
        self.signal_count += 1
        self.shutdown_requested.set()

    @property
    def quiet_moment(self) -> bool:
        """Whether nothing has happened yet that ends the spinner."""
        events = (self.job_running, self.output_started, self.job_finished)
        return not any(event.is_set() for event in events) and not self.shutdown_requested.is_set()


@dataclass(frozen=True)
class MonitorSettings:
    poll_interval_s: float = 0.1
    fallback_interval_s: float = 60.0
    grace_period_s: float = 10.0


@dataclass(frozen=True)
class Outcome:
    """How a job ended. ``reason`` is set when qxub chose the exit code itself."""

    job_id: str
    exit_code: int
    reason: str | None = None
    source: str = "status file"


@dataclass
class FollowedJob:
    """One job the monitor follows, and what it has learnt about it so far."""

    job_id: str
    job_dir: Path
    followers: list[FileFollower] = field(default_factory=list)
    started: JobStarted | None = None
    final: FinalStatus | None = None
    final_seen_at: float | None = None
    scheduler_state: JobState | None = None
    scheduler_ended_at: float | None = None
    last_signal_query_at: float | None = None
    removed_reason: str | None = None  # set once its job directory is found gone
    outcome: Outcome | None = None


class Monitor:
    """Follows any number of jobs in one thread; :meth:`run` returns when all have ended."""

    def __init__(
        self,
        scheduler: Scheduler,
        settings: MonitorSettings,
        coordinator: Coordinator | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.scheduler = scheduler
        self.settings = settings
        self.coordinator = coordinator or Coordinator()
        self.clock = clock
        self.jobs: dict[str, FollowedJob] = {}
        self._query_interval_s = _status_query_interval_s(scheduler, settings)
        self._next_fallback_at = clock() + self._query_interval_s
        self._fallback_failures = 0
        self._job_dirs_check_due = False

    def follow(
        self, job_id: str, job_dir: Path, followers: Sequence[FileFollower] = ()
    ) -> FollowedJob:
        job = FollowedJob(job_id, job_dir, list(followers))
        self.jobs[job_id] = job
        return job

    def job_dir_went_away(self) -> None:
        """A directory watch saw a job directory go: every job's is looked at in the next tick."""
        self._job_dirs_check_due = True

    @property
    def active_jobs(self) -> list[FollowedJob]:
        return [job for job in self.jobs.values() if job.outcome is None]

    def run(self, between_ticks: Callable[[], None] | None = None) -> list[Outcome] | None:
        """Tick until every job has an outcome; ``None`` when a shutdown was requested first.

        ``between_ticks`` runs in this thread after each tick (the terminal spinner uses it).
        Between ticks the loop sleeps one poll interval, or less when a status file appears.
        """
        watch = DirectoryWatch()
        for job in self.jobs.values():
            watch.watch(job.job_dir)
        try:
            while self.active_jobs:
                if self.coordinator.shutdown_requested.is_set():
                    return None

                busy = self.tick()
                if not self.active_jobs:
                    self.coordinator.job_finished.set()
                if between_ticks is not None:
                    between_ticks()
                if not busy and self.active_jobs and watch.sleep(self.settings.poll_interval_s):
                    self.job_dir_went_away()
        finally:
            watch.close()
        self.coordinator.job_finished.set()
        return [job.outcome for job in self.jobs.values() if job.outcome is not None]

    def tick(self) -> bool:
        """One round over every active job; ``True`` when output is still pouring in."""
        now = self.clock()
        active = self.active_jobs
        for job in active:
            self._read_status_files(job, now)

        busy = self._stream(active)
        self._look_for_removed_job_dirs(active, now)
        self._ask_scheduler_if_due(active, now)
        for job in active:
            self._settle(job, now)
        return busy

    def drain(self) -> None:
        """Copy whatever output is left, for jobs that end without an outcome (cancelled)."""
        for job in self.jobs.values():
            for follower in job.followers:
                follower.copy_new_bytes()
                follower.close()

    def _read_status_files(self, job: FollowedJob, now: float) -> None:
        if job.started is None:
            job.started = read_started(job.job_dir, job.job_id)
            if job.started is not None:
                logger.info("Job %s: started on %s", job.job_id, job.started.host or "?")
                self.coordinator.job_running.set()

        if job.final is None:
            job.final = read_final(job.job_dir, job.job_id)
            if job.final is not None:
                job.final_seen_at = now
                logger.debug("Job %s: final status file seen: %s", job.job_id, job.final)

    def _stream(self, jobs: list[FollowedJob]) -> bool:
        busy = False
        for job in jobs:
            for follower in job.followers:
                copied = follower.copy_new_bytes(TICK_BUDGET_BYTES)
                if copied:
                    logger.debug("Job %s: %d bytes from %s", job.job_id, copied, follower.path)
                    self.coordinator.output_started.set()
                busy = busy or copied >= TICK_BUDGET_BYTES
        return busy

    def _look_for_removed_job_dirs(self, jobs: list[FollowedJob], now: float) -> None:
        """At a fallback round, or once the watch saw one go: cancel jobs whose directory went."""
        if not self._job_dirs_check_due and now < self._next_fallback_at:
            return

        self._job_dirs_check_due = False
        removed = [
            job
            for job in jobs
            if job.final is None and job.removed_reason is None and job_dir_gone(job.job_dir)
        ]
        if removed:
            self._cancel_removed(removed)

    def _cancel_removed(self, jobs: list[FollowedJob]) -> None:
        job_ids = [job.job_id for job in jobs]
        logger.info("Job(s) %s: job directory gone, cancelling", ", ".join(job_ids))
        try:
            self.scheduler.cancel(job_ids)
            after = "qxub cancelled the job, as it can no longer follow it"
        except (SchedulerError, OSError) as exc:
            logger.warning("cancelling %s failed: %s", ", ".join(job_ids), exc)
            after = f"cancelling the job failed ({exc}): it may still be running"

        for job in jobs:
            job.removed_reason = f"its job directory {job.job_dir} was removed; {after}"

    def _ask_scheduler_if_due(self, jobs: list[FollowedJob], now: float) -> None:
        """The rare batched query for jobs whose script has not written a final file."""
        unresolved = [
            job
            for job in jobs
            if job.final is None and job.scheduler_ended_at is None and job.removed_reason is None
        ]
        if not unresolved or now < self._next_fallback_at:
            return

        states = self._query([job.job_id for job in unresolved])
        interval_s = self._query_interval_s
        if states is None:
            self._fallback_failures += 1
            interval_s *= min(2**self._fallback_failures, MAX_BACKOFF_FACTOR)
        else:
            self._fallback_failures = 0
            for job in unresolved:
                self._note_scheduler_state(job, states[job.job_id], now)
        self._next_fallback_at = now + interval_s

    def _query(self, job_ids: list[str]) -> dict[str, JobState] | None:
        try:
            states = self.scheduler.query(job_ids)
        except SchedulerError as exc:
            logger.warning("scheduler query failed, trying again later: %s", exc)
            return None
        missing = [job_id for job_id in job_ids if job_id not in states]
        for job_id in missing:
            states[job_id] = JobState(job_id, JobPhase.UNKNOWN, raw_state="missing")
        return states

    def _note_scheduler_state(self, job: FollowedJob, state: JobState, now: float) -> None:
        job.scheduler_state = state
        logger.debug("Job %s: scheduler says %s (%s)", job.job_id, state.phase, state.raw_state)
        if state.phase is JobPhase.RUNNING:
            self.coordinator.job_running.set()
        if state.phase in (JobPhase.ENDED, JobPhase.UNKNOWN) and job.scheduler_ended_at is None:
            job.scheduler_ended_at = now

    def _settle(self, job: FollowedJob, now: float) -> None:
        """Decide the job's outcome when the evidence allows, then drain its output."""
        outcome = (
            self._outcome_from_final(job, now)
            or _outcome_of_removed_dir(job)
            or self._outcome_from_scheduler(job, now)
        )
        if outcome is None:
            return

        for follower in job.followers:
            follower.copy_new_bytes()
            follower.close()
        job.outcome = outcome
        logger.info("Job %s: ended with exit code %d", job.job_id, outcome.exit_code)

    def _outcome_from_final(self, job: FollowedJob, now: float) -> Outcome | None:
        final = job.final
        if final is None:
            return None
        if final.reason_kind == "context":
            reason = f"the execution context failed to activate: {final.reason}"
            return Outcome(job.job_id, exitcodes.NEVER_RAN, reason)
        if final.reason_kind == "protocol":
            reason = f"the job's final status file is unreadable ({final.reason})"
            return Outcome(job.job_id, exitcodes.NEVER_RAN, reason)
        if final.reason_kind == "signal":
            return self._outcome_of_signal(job, final, now)
        return Outcome(job.job_id, final.exit_code)

    def _outcome_of_signal(
        self, job: FollowedJob, final: FinalStatus, now: float
    ) -> Outcome | None:
        """A signalled script: the scheduler knows whether it was a walltime kill or a cancel."""
        assert job.final_seen_at is not None
        recently_asked = (
            job.last_signal_query_at is not None
            and now - job.last_signal_query_at < SIGNAL_QUERY_INTERVAL_S
        )
        if not recently_asked:
            job.last_signal_query_at = now
            states = self._query([job.job_id])
            state = states[job.job_id] if states else None
            if state is not None and state.phase is JobPhase.ENDED and state.exit_code is not None:
                return Outcome(job.job_id, state.exit_code, state.reason, source="scheduler")

        if now - job.final_seen_at < self.settings.grace_period_s:
            return None
        return Outcome(job.job_id, final.exit_code)

    def _outcome_from_scheduler(self, job: FollowedJob, now: float) -> Outcome | None:
        """No final file: after the grace period, the scheduler's word is taken."""
        if job.final is not None or job.scheduler_ended_at is None:
            return None
        if now - job.scheduler_ended_at < self.settings.grace_period_s:
            return None

        state = job.scheduler_state
        assert state is not None
        if state.phase is JobPhase.UNKNOWN:
            reason = "the scheduler no longer knows the job and it left no final status"
            return Outcome(job.job_id, exitcodes.NEVER_RAN, reason, source="scheduler")
        if state.exit_code is None:
            reason = state.reason or "the scheduler reports the job ended but gives no exit status"
            return Outcome(job.job_id, exitcodes.NEVER_RAN, reason, source="scheduler")
        return Outcome(job.job_id, state.exit_code, state.reason, source="scheduler")


def _outcome_of_removed_dir(job: FollowedJob) -> Outcome | None:
    if job.final is not None or job.removed_reason is None:
        return None
    return Outcome(job.job_id, exitcodes.NEVER_RAN, job.removed_reason, source=JOB_DIR_REMOVED)


def job_dir_gone(job_dir: Path) -> bool:
    """Whether a job directory no longer exists (a passing error such as EIO is not taken so)."""
    try:
        return not stat.S_ISDIR(os.stat(job_dir).st_mode)
    except OSError as exc:
        return exc.errno in (errno.ENOENT, errno.ENOTDIR)


def _status_query_interval_s(scheduler: Scheduler, settings: MonitorSettings) -> float:
    """The fallback interval, or the adapter's own when its query is cheap enough to ask more."""
    cheap_interval_s = scheduler.status_query_interval_s
    if cheap_interval_s is None:
        return settings.fallback_interval_s
    return min(cheap_interval_s, settings.fallback_interval_s)
