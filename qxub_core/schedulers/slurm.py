"""The Slurm adapter: ``sbatch``, ``scancel``, ``sacct`` or ``squeue``, each with its parser.

The job's environment comes from the job directory, as on every backend: the script is submitted
with ``--export=NONE``, so Slurm starts it from the user's login environment and the script then
restores the captured submitting environment (or keeps the login one with a clean environment).

The status fallback asks ``sacct`` when the cluster keeps accounting and the controller
(``squeue --states=all``) otherwise; the first query decides, once per adapter, and logs which.
Jobs that sacct does not list yet (its records can lag the controller), and jobs it shows ended
in a way Slurm may requeue them after (a node failure, preemption), are asked of the controller
in the same round; the controller's answer wins while it still holds the job.
"""

from __future__ import annotations

import logging
import shlex
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

from qxub_core.schedulers.base import JobPhase, JobState, Scheduler, SchedulerError
from qxub_core.schedulers.command import CommandPolicy, run_scheduler_command
from qxub_core.schedulers.slurm_args import check_scheduler_args, directive_lines
from qxub_core.schedulers.slurm_states import (
    REQUEUED_AFTER,
    SACCT_STATE_FORMAT,
    SQUEUE_FORMAT,
    parse_sacct_states,
    parse_squeue_states,
)
from qxub_core.schedulers.slurm_usage import (
    SACCT_USAGE_FORMAT,
    no_accounting_usage,
    parse_sacct_usage,
    parse_scontrol_usage,
    sacct_usage_final,
)
from qxub_core.spec import JobSpec, SpecError
from qxub_core.usage import Usage

logger = logging.getLogger(__name__)

SCHEDULER_LOG = "scheduler.log"

DETECT_POLICY = CommandPolicy(timeout_s=5.0, attempts=1)
SUBMIT_POLICY = CommandPolicy(timeout_s=60.0, retry_timeouts=False)  # it may have queued the job
QUERY_POLICY = CommandPolicy(timeout_s=30.0)

# What Slurm's commands print when there is nothing to do: not errors for qxub.
ACCOUNTING_DISABLED = "accounting storage is disabled"
INVALID_JOB_ID = "invalid job id specified"
ALREADY_ENDED = "already completing or completed"


class SlurmScheduler(Scheduler):
    """Slurm as qxub uses it (see the module docstring)."""

    name: ClassVar[str] = "slurm"
    job_id_variable: ClassVar[str] = "SLURM_JOB_ID"
    directive_prefix: ClassVar[str] = "#SBATCH"
    # sacct completes a job's record seconds after its end, often after qxub has returned.
    usage_collected_detached: ClassVar[bool] = True

    # How long :meth:`usage` waits for sacct's record to be whole (the job's end and its
    # requests recorded) before reading what it has.
    usage_wait_s: float = 30.0
    usage_poll_s: float = 1.0

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self._accounting: bool | None = None  # decided by the first sacct call

    @classmethod
    def detect(cls) -> bool:
        """Slurm answers when ``sbatch --version`` says ``slurm ...``."""
        try:
            done = run_scheduler_command(["sbatch", "--version"], policy=DETECT_POLICY)
        except SchedulerError:
            return False
        return done.stdout.strip().lower().startswith("slurm")

    def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
        raw_groups = check_scheduler_args(spec)
        _refuse_pbs_only(spec)
        _refuse_backslash(job_dir)

        options = [("--job-name", spec.name), ("--account", spec.project)]
        options += [("--partition", spec.queue), *_resource_options(spec)]
        options += [
            ("--output", slurm_filename(job_dir / SCHEDULER_LOG)),
            ("--open-mode", "append"),
            ("--export", "NONE"),
            ("--chdir", str(job_dir)),
        ]
        lines = [
            f"{self.directive_prefix} {name}={shlex.quote(value)}"
            for name, value in options
            if value is not None
        ]
        return lines + directive_lines(self.directive_prefix, raw_groups)

    def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
        return ["sbatch", "--parsable", str(script)]

    def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
        command = self.submit_command(script, job_dir, spec)
        done = run_scheduler_command(command, policy=SUBMIT_POLICY)
        job_id = job_id_from_submit_output(done.stdout)
        if job_id is None:
            output = (done.stdout + done.stderr).strip()
            raise SchedulerError(
                f"sbatch answered without a job id: {output!r}", command=command, output=output
            )

        logger.info("Job %s: submitted to Slurm", job_id)
        return job_id

    def cancel(self, job_ids: Sequence[str]) -> None:
        if not job_ids:
            return
        run_scheduler_command(["scancel", *job_ids], policy=QUERY_POLICY, accept=_cancel_done)

    def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        wanted = list(dict.fromkeys(job_ids))
        if not wanted:
            return {}

        states = self._query_accounting(wanted) if self._accounting is not False else {}
        missing = [job_id for job_id in wanted if _ask_controller(states.get(job_id))]
        if missing:
            states.update(self._query_controller(missing))
        return {
            job_id: states.get(job_id) or JobState(job_id, JobPhase.UNKNOWN) for job_id in wanted
        }

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        if self._accounting is not False:
            record = self._usage_from_accounting(job_id)
            if record is not None:
                return record
        return self._usage_from_controller(job_id)

    def _query_accounting(self, job_ids: list[str]) -> dict[str, JobState]:
        command = ["sacct", "--noheader", "--parsable2", f"--jobs={','.join(job_ids)}"]
        text = self._run_sacct([*command, f"--format={SACCT_STATE_FORMAT}"])
        return {} if text is None else parse_sacct_states(text)

    def _query_controller(self, job_ids: list[str]) -> dict[str, JobState]:
        command = ["squeue", "--noheader", "--states=all", f"--jobs={','.join(job_ids)}"]
        command.append(f"--Format={SQUEUE_FORMAT}")
        done = run_scheduler_command(command, policy=QUERY_POLICY, accept=_unknown_jobs_ok)
        return parse_squeue_states(done.stdout)

    def _usage_from_accounting(self, job_id: str) -> Usage | None:
        command = ["sacct", "--noheader", "--parsable2", f"--jobs={job_id}"]
        command.append(f"--format={SACCT_USAGE_FORMAT}")
        deadline = time.monotonic() + self.usage_wait_s
        while True:
            text = self._run_sacct(command)
            if text is None:
                return None
            if sacct_usage_final(text) or time.monotonic() >= deadline:
                break
            time.sleep(self.usage_poll_s)

        record = parse_sacct_usage(job_id, text)
        if record is not None and not sacct_usage_final(text):
            record.notes.append(
                f"sacct's record of the job was still incomplete after {self.usage_wait_s:g}s"
            )
        return record

    def _usage_from_controller(self, job_id: str) -> Usage:
        command = ["scontrol", "--oneliner", "show", "job", job_id]
        try:
            done = run_scheduler_command(command, policy=QUERY_POLICY)
        except SchedulerError as error:
            return no_accounting_usage(job_id, f"scontrol no longer knows the job: {error}")
        return parse_scontrol_usage(job_id, done.stdout)

    def _run_sacct(self, command: list[str]) -> str | None:
        """sacct's output, or ``None`` when it cannot answer (then the controller is asked)."""
        try:
            done = run_scheduler_command(command, policy=QUERY_POLICY)
        except SchedulerError as error:
            if ACCOUNTING_DISABLED in error.output.lower():
                self._decide_accounting(False)
            else:
                logger.warning("sacct failed, asking the Slurm controller instead: %s", error)
            return None

        self._decide_accounting(True)
        return done.stdout

    def _decide_accounting(self, available: bool) -> None:
        if self._accounting is not None:
            return
        self._accounting = available
        if available:
            logger.info("Slurm keeps accounting: job states and usage come from sacct")
        else:
            logger.info(
                "Slurm accounting is disabled: job states come from squeue, usage from scontrol"
            )


def job_id_from_submit_output(stdout: str) -> str | None:
    """The job id in ``sbatch --parsable`` output: ``id`` or ``id;cluster``, notices before it."""
    for line in reversed(stdout.splitlines()):
        candidate = line.strip().partition(";")[0]
        if candidate and candidate.replace("_", "").isdigit():
            return candidate
    return None


def slurm_filename(path: Path) -> str:
    """``path`` as sbatch's ``--output`` reads it: a ``%`` is doubled, or Slurm replaces it."""
    return str(path).replace("%", "%%")


def slurm_size(size_bytes: int) -> str:
    """A size as sbatch reads it: the largest whole binary unit, ``16G``, ``1536M``, ``4K``."""
    for unit, scale in (("T", 1024**4), ("G", 1024**3), ("M", 1024**2)):
        if size_bytes % scale == 0:
            return f"{size_bytes // scale}{unit}"
    return f"{-(-size_bytes // 1024)}K"


def slurm_time(walltime_s: int) -> str:
    """A time limit as sbatch reads it: ``HH:MM:SS``, ``D-HH:MM:SS`` from a day on."""
    days, rest = divmod(walltime_s, 86400)
    hours, rest = divmod(rest, 3600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}-{clock}" if days else clock


def _resource_options(spec: JobSpec) -> list[tuple[str, str | None]]:
    resources = spec.resources
    return [
        ("--cpus-per-task", _text(resources.cpus)),
        ("--mem", None if resources.mem_bytes is None else slurm_size(resources.mem_bytes)),
        ("--time", None if resources.walltime_s is None else slurm_time(resources.walltime_s)),
        ("--gpus", _text(resources.gpus)),
        ("--tmp", None if resources.disk_bytes is None else slurm_size(resources.disk_bytes)),
    ]


def _ask_controller(state: JobState | None) -> bool:
    """Whether sacct's answer needs the controller's: none yet, or an end Slurm may requeue."""
    return state is None or state.raw_state.split(" ")[0] in REQUEUED_AFTER


def _text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _refuse_pbs_only(spec: JobSpec) -> None:
    if spec.raw_resources:
        raise SpecError(
            "-l/--resources takes PBS resources; on Slurm pass sbatch options with --scheduler-args"
        )
    if spec.storage is not None:
        raise SpecError("--storage is a PBS (NCI Gadi) option; Slurm has no storage directive")


def _refuse_backslash(job_dir: Path) -> None:
    """sbatch drops a backslash from a directive's value, so the job would find no directory."""
    if "\\" in str(job_dir):
        raise SpecError(
            f"Slurm cannot take a job directory whose path holds a backslash: {job_dir}; "
            "set job_root (QXUB_JOB_ROOT) to another directory"
        )


def _cancel_done(done: subprocess.CompletedProcess[str]) -> bool:
    """scancel succeeded, or only said that jobs had already ended or are unknown."""
    if done.returncode == 0:
        return True
    errors = [line.lower() for line in done.stderr.splitlines() if "error" in line.lower()]
    return bool(errors) and all(ALREADY_ENDED in line or INVALID_JOB_ID in line for line in errors)


def _unknown_jobs_ok(done: subprocess.CompletedProcess[str]) -> bool:
    """squeue exits 1 when none of the jobs asked about is known: an answer, not a failure."""
    return done.returncode == 0 or INVALID_JOB_ID in done.stderr.lower()
