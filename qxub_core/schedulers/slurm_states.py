"""Slurm's job states and exit codes, read from ``sacct`` or ``squeue`` into :class:`JobState`.

Both readers take the exact text of one command line built here, so that the command and its
parser stay side by side:

- ``sacct`` (:data:`SACCT_STATE_FORMAT`) prints one line for the job's allocation and one per
  step. The allocation line carries the job's state; its ``ExitCode`` is the batch script's,
  except for a cancelled job, where only the ``batch`` step shows the signal (``0:15``), and
  not even that when the job was cancelled as it started.
- ``squeue --states=all`` (:data:`SQUEUE_FORMAT`) knows the jobs the controller still holds
  (``MinJobAge`` seconds after they end); its ``exit_code`` is the raw wait status (768 is exit
  3, 9 is SIGKILL), and a job that never ran has no batch host.

A cancelled job that started is 143 (scancel's SIGTERM) unless Slurm recorded another signal; one
that never started is 125.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import Iterable
from dataclasses import dataclass

from qxub_core import exitcodes
from qxub_core.schedulers.base import JobPhase, JobState

logger = logging.getLogger(__name__)

SACCT_STATE_FORMAT = "JobID,State,ExitCode,Reason,Start"
NOT_STARTED = ("", "None", "Unknown", "n/a", "(null)")  # sacct's Start, squeue's BatchHost
SQUEUE_FORMAT = "JobID:|,State:|,Reason:|,exit_code:|,BatchHost:|"

QUEUED = JobPhase.QUEUED
RUNNING = JobPhase.RUNNING
ENDED = JobPhase.ENDED


@dataclass(frozen=True)
class StateMeaning:
    """What qxub makes of one Slurm state: its phase and, where qxub decides, the exit code."""

    phase: JobPhase
    exit_code: int | None = None
    reason: str | None = None


# Every Slurm job state (the long names sacct and squeue print). A state with an exit code here
# ends the job with that code whatever Slurm's ExitCode says; the others take the ExitCode.
SLURM_STATES: dict[str, StateMeaning] = {
    "PENDING": StateMeaning(QUEUED),  # waiting for resources, held, or waiting to begin
    "CONFIGURING": StateMeaning(QUEUED),  # resources allocated, nodes still booting
    "REQUEUED": StateMeaning(QUEUED),  # put back in the queue after it ran
    "REQUEUE_HOLD": StateMeaning(QUEUED),  # requeued and held
    "REQUEUE_FED": StateMeaning(QUEUED),  # requeued by the federation
    "RESV_DEL_HOLD": StateMeaning(QUEUED),  # held because its reservation was deleted
    "RUNNING": StateMeaning(RUNNING),
    "SUSPENDED": StateMeaning(RUNNING),  # paused, processes kept; it resumes later
    "STOPPED": StateMeaning(RUNNING),  # sent SIGSTOP, resources kept
    "SIGNALING": StateMeaning(RUNNING),  # a signal is being delivered
    "RESIZING": StateMeaning(RUNNING),  # its allocation is changing size
    "STAGE_OUT": StateMeaning(RUNNING),  # burst-buffer stage-out after the script ended
    "COMPLETING": StateMeaning(RUNNING),  # the script ended, processes are being cleaned up
    "COMPLETED": StateMeaning(ENDED),  # the script exited 0
    "FAILED": StateMeaning(ENDED),  # non-zero exit or killed by a signal: ExitCode says which
    "SPECIAL_EXIT": StateMeaning(ENDED),  # requeued-and-held by the job's own exit code
    "CANCELLED": StateMeaning(ENDED),  # scancel: 0:15 when it ran, nothing when it was queued
    "TIMEOUT": StateMeaning(
        ENDED, exitcodes.WALLTIME_EXCEEDED, "the job exceeded its time limit (Slurm TIMEOUT)"
    ),
    "OUT_OF_MEMORY": StateMeaning(
        ENDED,
        exitcodes.from_signal(signal.SIGKILL),
        "the job ran out of memory and was killed (Slurm OUT_OF_MEMORY)",
    ),
    "NODE_FAIL": StateMeaning(
        ENDED, exitcodes.NEVER_RAN, "the job's node failed; its end is unknown (Slurm NODE_FAIL)"
    ),
    "PREEMPTED": StateMeaning(
        ENDED, exitcodes.NEVER_RAN, "the job was preempted by another (Slurm PREEMPTED)"
    ),
    "BOOT_FAIL": StateMeaning(
        ENDED, exitcodes.NEVER_RAN, "the job's node failed to boot (Slurm BOOT_FAIL)"
    ),
    "DEADLINE": StateMeaning(
        ENDED, exitcodes.NEVER_RAN, "the job could not end before its deadline (Slurm DEADLINE)"
    ),
    "REVOKED": StateMeaning(
        ENDED,
        exitcodes.NEVER_RAN,
        "the job was revoked: it runs on another cluster (Slurm REVOKED)",
    ),
}


# Ends after which Slurm may put the job back in the queue (Requeue=1, the default): sacct keeps
# the ended attempt's record while the controller already holds the job again.
REQUEUED_AFTER = frozenset({"NODE_FAIL", "PREEMPTED", "BOOT_FAIL"})


@dataclass(frozen=True)
class ExitStatus:
    """Slurm's ``ExitCode=N:S``: the exit code, or the signal that killed the script."""

    code: int = 0
    signal: int = 0

    @classmethod
    def from_sacct(cls, text: str) -> ExitStatus | None:
        """``3:0`` or ``0:15``; ``None`` when the field is empty or unreadable."""
        code, _, signal_number = text.strip().partition(":")
        try:
            return cls(int(code), int(signal_number or 0))
        except ValueError:
            return None

    @classmethod
    def from_wait_status(cls, text: str) -> ExitStatus | None:
        """squeue's ``exit_code``: a raw wait status (768 is exit 3, 9 is SIGKILL)."""
        try:
            status = int(text.strip())
        except ValueError:
            return None
        return cls((status >> 8) & 0xFF, status & 0x7F)


def job_state(
    job_id: str,
    raw_state: str,
    exit_status: ExitStatus | None,
    reason: str = "",
    started: bool = True,
) -> JobState:
    """The :class:`JobState` for one job from its state word, exit status and whether it ran."""
    state = raw_state.split()[0] if raw_state.strip() else ""
    meaning = SLURM_STATES.get(state)
    if meaning is None:
        logger.warning("Job %s: unknown Slurm state %r", job_id, raw_state)
        return JobState(job_id, JobPhase.UNKNOWN, raw_state=raw_state)
    if meaning.phase is not ENDED:
        return JobState(job_id, meaning.phase, raw_state=raw_state, reason=reason or None)

    exit_code, why = (
        _cancelled_exit(exit_status, started)
        if state == "CANCELLED"
        else _ended_exit(state, meaning, exit_status)
    )
    return JobState(job_id, ENDED, raw_state=raw_state, exit_code=exit_code, reason=why)


def _cancelled_exit(exit_status: ExitStatus | None, started: bool) -> tuple[int, str]:
    if not started:
        return exitcodes.NEVER_RAN, "the job was cancelled before it started (Slurm CANCELLED)"
    signal_number = int(signal.SIGTERM)
    if exit_status is not None and exit_status.signal:
        signal_number = exit_status.signal
    return exitcodes.from_signal(signal_number), _signal_reason("CANCELLED", signal_number)


def _ended_exit(
    state: str, meaning: StateMeaning, exit_status: ExitStatus | None
) -> tuple[int, str | None]:
    if meaning.exit_code is not None:
        return meaning.exit_code, meaning.reason
    if exit_status is None:
        return exitcodes.NEVER_RAN, f"Slurm reports the job {state} without an exit code"

    if exit_status.signal:
        return exitcodes.from_signal(exit_status.signal), _signal_reason(state, exit_status.signal)
    if exit_status.code == 0 and state == "FAILED":
        return exitcodes.NEVER_RAN, "the job failed before its script ran (Slurm FAILED)"
    return exit_status.code, None


def _signal_reason(state: str, signal_number: int) -> str:
    try:
        name = signal.Signals(signal_number).name
    except ValueError:
        name = f"signal {signal_number}"
    if state == "CANCELLED":
        return f"the job was cancelled with scancel ({name}, Slurm CANCELLED)"
    return f"the job was killed by {name} (Slurm {state})"


def parse_sacct_states(text: str) -> dict[str, JobState]:
    """Read ``sacct --parsable2 --noheader --format=`` :data:`SACCT_STATE_FORMAT`."""
    allocations: dict[str, list[str]] = {}
    batch_exit: dict[str, ExitStatus | None] = {}
    for fields in _rows(text, 5):
        job_id, _, step = fields[0].partition(".")
        if not step:
            allocations[job_id] = fields
        elif step == "batch":
            batch_exit[job_id] = ExitStatus.from_sacct(fields[2])

    states = {}
    for job_id, (_, raw_state, exit_text, reason, start, *_) in allocations.items():
        exit_status = ExitStatus.from_sacct(exit_text)
        if raw_state.startswith("CANCELLED"):
            exit_status = batch_exit.get(job_id)
        started = start not in NOT_STARTED
        states[job_id] = job_state(job_id, raw_state, exit_status, _reason(reason), started)
    return states


def parse_squeue_states(text: str) -> dict[str, JobState]:
    """Read ``squeue --noheader --states=all --Format=`` :data:`SQUEUE_FORMAT`."""
    states = {}
    for job_id, raw_state, reason, wait_status, batch_host, *_ in _rows(text, 5):
        exit_status = ExitStatus.from_wait_status(wait_status)
        started = batch_host not in NOT_STARTED
        states[job_id] = job_state(job_id, raw_state, exit_status, _reason(reason), started)
    return states


def _rows(text: str, width: int) -> Iterable[list[str]]:
    for line in text.splitlines():
        fields = [field.strip() for field in line.split("|")]
        if len(fields) >= width and fields[0]:
            yield fields


def _reason(text: str) -> str:
    return "" if text in ("", "None", "(null)") else text
