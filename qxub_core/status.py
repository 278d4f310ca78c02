"""The status-file protocol: how a job script tells qxub where the job stands.

Each job directory (mode 0700) holds the rendered script, the job's ``out`` and ``err`` files
and, written by the job script itself:

``job_started_<jobid>``
    written first thing, one line: ``<unix time> <host> <jobid>``.
``final_exit_code_<jobid>``
    written last, on every way out, atomically (a temporary name, then a rename). Its first line
    is the exit code; an optional second line is a reason, ``context: <why>`` when the execution
    context failed to activate (qxub exits 125) or ``signal: <NAME>`` when the script was
    terminated by a signal (the scheduler is then asked how it ended: walltime or qdel).

A reader never acts on a half-written file: the final file either exists whole or not at all.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

STARTED_PREFIX = "job_started_"
FINAL_PREFIX = "final_exit_code_"
OUT_FILE = "out"
ERR_FILE = "err"
SCRIPT_FILE = "job.sh"
ENVIRONMENT_FILE = "environment.sh"


@dataclass(frozen=True)
class JobStarted:
    time_s: float
    host: str
    job_id: str


@dataclass(frozen=True)
class FinalStatus:
    """The job script's last word: its exit code and, where it chose one, why."""

    exit_code: int
    reason_kind: str | None = None  # "context" or "signal"
    reason: str | None = None


def started_path(job_dir: Path, job_id: str) -> Path:
    return job_dir / f"{STARTED_PREFIX}{job_id}"


def final_path(job_dir: Path, job_id: str) -> Path:
    return job_dir / f"{FINAL_PREFIX}{job_id}"


def read_started(job_dir: Path, job_id: str) -> JobStarted | None:
    """The job-started record, or ``None`` while the job has not started."""
    try:
        fields = started_path(job_dir, job_id).read_text(errors="replace").split()
    except FileNotFoundError:
        return None
    if len(fields) < 3:
        return JobStarted(time_s=0.0, host="", job_id=job_id)
    return JobStarted(time_s=_float_or_zero(fields[0]), host=fields[1], job_id=fields[2])


def read_final(job_dir: Path, job_id: str) -> FinalStatus | None:
    """The final status, or ``None`` while the job has not ended."""
    try:
        text = final_path(job_dir, job_id).read_text(errors="replace")
    except FileNotFoundError:
        return None
    return parse_final(text)


def parse_final(text: str) -> FinalStatus:
    lines = text.splitlines()
    try:
        code = int(lines[0].strip())
    except (IndexError, ValueError):
        return FinalStatus(exit_code=125, reason_kind="protocol", reason="unreadable final status")

    if len(lines) < 2 or ":" not in lines[1]:
        return FinalStatus(exit_code=code)
    kind, _, reason = lines[1].partition(":")
    return FinalStatus(exit_code=code, reason_kind=kind.strip(), reason=reason.strip())


def write_atomically(path: Path, text: str) -> None:
    """Write ``text`` so that a reader sees the old state or the whole new file, never a part."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(temporary, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except OSError:
        temporary.unlink(missing_ok=True)
        raise


def _float_or_zero(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return 0.0
