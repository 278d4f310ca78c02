"""Submitting one Snakemake job through the engine: job directory, script, scheduler.

Each submission, first attempt or Snakemake retry, gets a new job directory and a new scheduler
job. A submit command that fails for a transient reason (server busy, connection refused) is
tried again with backoff by the scheduler adapter itself; a submit command that timed out is
not, since the scheduler may have queued the job, and tried again it could run twice.

A value the scheduler adapter or a plugin refuses fails the job with ``SpecError``, and the
engine's preparation leaves nothing of it behind. :func:`check_spec` asks the same question
without making anything, for the run's own values at start.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from qxub_core.jobdir import new_job_dir_path
from qxub_core.plugins import Plugins, default_plugins
from qxub_core.schedulers.base import Scheduler
from qxub_core.script import render_script
from qxub_core.spec import JobSpec
from qxub_core.status import SCRIPT_FILE
from qxub_core.submission import prepare_job, submit_prepared, with_plugin_arguments


@dataclass(frozen=True)
class Submission:
    job_id: str
    job_dir: Path


def submit_spec(
    spec: JobSpec,
    scheduler: Scheduler,
    job_root: Path,
    plugins: Plugins | None = None,
) -> Submission:
    """Prepare a job directory for ``spec``, submit it, and return the scheduler's job id.

    Preparation is the engine's own step (plugins add script lines and submit arguments), and
    observers are told of the submission. Raises :class:`SchedulerError` when the scheduler
    refuses (removing the directory of a job it certainly did not queue), ``JobDirError``
    when no job directory can be made, and ``SpecError`` (leaving no directory) when the
    spec cannot be rendered for this scheduler.
    """
    plugins = plugins or default_plugins()
    prepared = prepare_job(spec, scheduler, job_root, plugins)

    job_id = submit_prepared(prepared, scheduler)
    plugins.job_submitted(prepared.spec, job_id, prepared.job_dir, scheduler.name)
    return Submission(job_id=job_id, job_dir=prepared.job_dir)


def check_spec(
    spec: JobSpec, scheduler: Scheduler, job_root: Path, plugins: Plugins | None = None
) -> None:
    """Render the job script and submit command without making anything, as ``qxub --dry``
    does: ``SpecError`` when the adapter or a plugin refuses a value of ``spec``."""
    plugins = plugins or default_plugins()
    spec = with_plugin_arguments(spec, scheduler.name, plugins)
    job_dir = new_job_dir_path(job_root, spec.name)

    render_script(spec, scheduler, job_dir, plugins=plugins)
    scheduler.submit_command(job_dir / SCRIPT_FILE, job_dir, spec)
