"""Status rounds: the engine's monitor, ticked once per Snakemake status check.

The monitor that follows a ``qxub`` job follows the workflow's jobs too, without streaming
their output. One tick reads the status files of every active job and runs no scheduler
command; the scheduler is asked, in one batched query, only every fallback interval (for jobs
that may have ended without writing their final file) and when a final file reports a signal
(to tell a walltime kill from a cancellation). The exit codes and reasons are the engine's.
Observer plugins are told when each job starts and ends, as for any qxub job.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from pathlib import Path

from qxub_core.monitor import FollowedJob, Monitor, MonitorSettings, Outcome
from qxub_core.plugins import Plugins, default_plugins
from qxub_core.schedulers.base import Scheduler

logger = logging.getLogger("qxub.snakemake.status")


class StatusRounds:
    """The jobs of one workflow run, followed by one monitor.

    Rounds run in Snakemake's status thread, submissions in its main thread: a submitted job
    waits in a short queue until the next round hands it to the monitor, so a submission
    never waits for a round (nor for a slow scheduler query inside one).
    """

    def __init__(
        self, scheduler: Scheduler, settings: MonitorSettings, plugins: Plugins | None = None
    ) -> None:
        self.monitor = Monitor(scheduler, settings)
        self.plugins = plugins or default_plugins()
        self._started_told: set[str] = set()
        self._submitted: list[tuple[str, Path]] = []
        self._submitted_lock = threading.Lock()

    def follow(self, job_id: str, job_dir: Path) -> None:
        """Follow a submitted job from the next round on."""
        with self._submitted_lock:
            self._submitted.append((job_id, job_dir))

    def run_round(self, job_ids: Sequence[str]) -> dict[str, Outcome]:
        """One tick over the followed jobs; the ones of ``job_ids`` that ended, now forgotten."""
        with self._submitted_lock:
            submitted, self._submitted = self._submitted, []
        for job_id, job_dir in submitted:
            self.monitor.follow(job_id, job_dir)

        self.monitor.tick()
        self._tell_starts(list(self.monitor.jobs.values()))

        ended: dict[str, Outcome] = {}
        for job_id in job_ids:
            job = self.monitor.jobs.get(job_id)
            if job is not None and job.outcome is not None:
                ended[job_id] = job.outcome
                del self.monitor.jobs[job_id]
                self._tell_end(job, job.outcome)
        return ended

    def _tell_starts(self, jobs: Sequence[FollowedJob]) -> None:
        for job in jobs:
            if job.started is not None and job.job_id not in self._started_told:
                self._started_told.add(job.job_id)
                self.plugins.job_started(job.job_id, job.job_dir, job.started.host)

    def _tell_end(self, job: FollowedJob, outcome: Outcome) -> None:
        self._started_told.discard(job.job_id)
        self.plugins.job_finished(job.job_id, job.job_dir, outcome.exit_code, outcome.reason)

    def forget(self, job_ids: Sequence[str]) -> None:
        """Stop following jobs (cancelled ones)."""
        for job_id in job_ids:
            self.monitor.jobs.pop(job_id, None)


def describe(outcome: Outcome) -> str:
    """``exit code N`` and, when qxub chose the code, why."""
    text = f"exit code {outcome.exit_code}"
    return f"{text} ({outcome.reason})" if outcome.reason else text
