"""Submitting one job: its directory, environment and script, the plugins' part, the scheduler.

Every way into qxub (the command line, the Python API, the Snakemake executor) submits through
:func:`submit_job`, so that plugins see the same job whichever way it came:

1. the plugins' submit arguments join the spec's raw scheduler arguments, where the adapter
   checks them against qxub's own options like any a user typed;
2. a private job directory is created under the job root, and the job script is rendered for
   it (the plugins provide its context, prologue and epilogue); a spec the adapter refuses
   removes the directory again, so nothing is left of it;
3. the submitting environment is written there for the job script to restore, and the script;
4. the scheduler submits it, and observers are told.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from qxub_core.environment import capture_environment, write_environment_file
from qxub_core.jobdir import create_job_dir, discard_unfinished_job_dir
from qxub_core.plugins import Plugins
from qxub_core.schedulers.base import Scheduler, SchedulerError
from qxub_core.script import render_script, write_script
from qxub_core.spec import JobSpec, SpecError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class PreparedJob:
    """A job ready to submit: the spec as submitted (with plugin arguments) and its files."""

    spec: JobSpec
    job_dir: Path
    script: Path


@dataclass(frozen=True)
class Submission:
    """A job the scheduler accepted."""

    spec: JobSpec
    job_id: str
    job_dir: Path
    scheduler: str


def prepare_job(
    spec: JobSpec,
    scheduler: Scheduler,
    job_root: Path,
    plugins: Plugins,
    prologue: Sequence[str] = (),
    epilogue: Sequence[str] = (),
) -> PreparedJob:
    """Create the job directory, the environment file and the script; submit nothing.

    ``prologue``/``epilogue`` are lines of the caller's own, run before the plugins' lines.
    """
    spec = with_plugin_arguments(spec, scheduler.name, plugins)
    job_dir = create_job_dir(job_root, spec.name)
    try:
        text = render_script(spec, scheduler, job_dir, prologue, epilogue, plugins=plugins)
    except SpecError:
        shutil.rmtree(job_dir, ignore_errors=True)  # refused before anything was written
        raise

    if not spec.clean_env:
        environment = spec.environment if spec.environment is not None else capture_environment()
        _write_or_discard(job_dir, lambda: write_environment_file(job_dir, environment))
    script = _write_or_discard(job_dir, lambda: write_script(job_dir, text))
    return PreparedJob(spec, job_dir, script)


def _write_or_discard(job_dir: Path, write: Callable[[], Path]) -> Path:
    """Write one of the job's files; a job directory left half-written is removed."""
    try:
        return write()
    except OSError as exc:
        raise discard_unfinished_job_dir(job_dir, exc) from exc


def submit_job(spec: JobSpec, scheduler: Scheduler, job_root: Path, plugins: Plugins) -> Submission:
    """Prepare and submit ``spec``; raises :class:`SchedulerError` when the scheduler refuses."""
    prepared = prepare_job(spec, scheduler, job_root, plugins)

    job_id = submit_prepared(prepared, scheduler)
    logger.info("Job %s: submitted to %s from %s", job_id, scheduler.name, prepared.job_dir)

    plugins.job_submitted(prepared.spec, job_id, prepared.job_dir, scheduler.name)
    return Submission(prepared.spec, job_id, prepared.job_dir, scheduler.name)


def submit_prepared(prepared: PreparedJob, scheduler: Scheduler) -> str:
    """Submit a prepared job and return its id; a refused job's directory is removed."""
    try:
        return scheduler.submit(prepared.script, prepared.job_dir, prepared.spec)
    except SchedulerError as refusal:
        logger.info("submission refused: %s", refusal.detail)
        forget_refused(prepared.job_dir, refusal)
        raise


def forget_refused(job_dir: Path, refusal: SchedulerError) -> None:
    """A submission that certainly queued nothing leaves nothing behind either.

    After a submit command that timed out, or answered without a job id, the job may be
    queued: its directory stays for it.
    """
    if refusal.acted_on_nothing:
        logger.debug("removing %s: nothing was submitted", job_dir)
        shutil.rmtree(job_dir, ignore_errors=True)


def with_plugin_arguments(spec: JobSpec, scheduler_name: str, plugins: Plugins) -> JobSpec:
    """``spec`` with the plugins' submit arguments after the user's own raw arguments.

    Raw arguments are shell-split by the adapters, so the plugins' words join them as one
    quoted text that splits back into exactly those words.
    """
    extra = plugins.submit_args(spec, scheduler_name)
    if not extra:
        return spec
    return dataclasses.replace(spec, scheduler_args=(*spec.scheduler_args, shlex.join(extra)))
