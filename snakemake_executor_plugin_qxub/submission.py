"""Submitting one Snakemake job through the engine: job directory, script, scheduler.

Each submission, first attempt or retry, gets a new job directory and a new scheduler job. A
submission the scheduler refuses for a transient reason (server busy, connection refused, a
timeout) is tried again with backoff before the job is reported failed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path

from qxub_core.plugins import Plugins, default_plugins
from qxub_core.schedulers.base import Scheduler, SchedulerError
from qxub_core.spec import JobSpec
from qxub_core.submission import prepare_job

logger = logging.getLogger("qxub.snakemake.submission")


@dataclass(frozen=True)
class SubmitPolicy:
    """How often and how patiently a transiently refused submission is tried again."""

    attempts: int = 3
    backoff_s: float = 1.0
    backoff_factor: float = 2.0


@dataclass(frozen=True)
class Submission:
    job_id: str
    job_dir: Path


def submit_spec(
    spec: JobSpec,
    scheduler: Scheduler,
    job_root: Path,
    policy: SubmitPolicy | None = None,
    plugins: Plugins | None = None,
) -> Submission:
    """Prepare a job directory for ``spec``, submit it, and return the scheduler's job id.

    Preparation is the engine's own step (plugins add script lines and submit arguments), and
    observers are told of the submission. Raises :class:`SchedulerError` when the scheduler
    refuses (after the retries for a transient refusal) and ``JobDirError`` when no job
    directory can be made.
    """
    plugins = plugins or default_plugins()
    prepared = prepare_job(spec, scheduler, job_root, plugins)

    policy = policy or SubmitPolicy()
    job_dir = prepared.job_dir
    job_id = _submit_with_retries(prepared.spec, scheduler, prepared.script, job_dir, policy)
    plugins.job_submitted(prepared.spec, job_id, job_dir, scheduler.name)
    return Submission(job_id=job_id, job_dir=job_dir)


def _submit_with_retries(
    spec: JobSpec, scheduler: Scheduler, script: Path, job_dir: Path, policy: SubmitPolicy
) -> str:
    delay_s = policy.backoff_s
    for attempt in range(1, policy.attempts + 1):
        try:
            return scheduler.submit(script, job_dir, spec)
        except SchedulerError as error:
            if not error.transient or attempt == policy.attempts:
                raise
            logger.warning(
                "submission of %s refused (%s), trying again in %.1fs", spec.name, error, delay_s
            )
        time.sleep(delay_s)
        delay_s *= policy.backoff_factor
    raise AssertionError("unreachable")
