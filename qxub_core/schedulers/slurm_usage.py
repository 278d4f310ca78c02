"""Slurm's accounting read into qxub's :class:`Usage` record.

From ``sacct`` (:data:`SACCT_USAGE_FORMAT`) when accounting is kept: the allocation line gives the
elapsed time, the CPU time summed over the steps, the memory and CPUs requested and the time
limit; the peak memory is the largest ``MaxRSS`` among the steps, which Slurm samples every few
seconds (a step shorter than the sampling interval has none). Without accounting, the
controller's ``scontrol show job`` still gives elapsed time, CPUs and what was requested, but no
CPU time or memory use, and the record says so.
"""

from __future__ import annotations

import re

from qxub_core.schedulers.base import JobPhase
from qxub_core.schedulers.slurm_states import SLURM_STATES
from qxub_core.usage import Usage

SACCT_USAGE_FORMAT = "JobID,State,ExitCode,Elapsed,TotalCPU,MaxRSS,ReqMem,AllocCPUS,Timelimit"

_SIZE_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4, "P": 1024**5}
_SIZE_PATTERN = re.compile(r"^(\d+(?:\.\d+)?)([KMGTP]?)([nc]?)$")
_DURATION_PATTERN = re.compile(r"^(?:(\d+)-)?(?:(\d+):)??(?:(\d+):)?(\d+(?:\.\d+)?)$")
_SCONTROL_FIELD = re.compile(r"(?:^|\s)([A-Za-z][\w/:]*)=(\S*)")

SAMPLED_RSS_NOTE = (
    "peak memory is the largest MaxRSS of the job's steps, sampled by Slurm every few seconds"
)
NO_ACCOUNTING_NOTE = (
    "Slurm accounting is disabled on this cluster (AccountingStorageType=accounting_storage/none):"
    " no CPU time or memory use is known"
)


def duration_s(text: str) -> float | None:
    """Slurm's ``[D-][HH:]MM:SS[.mmm]`` in seconds; ``None`` for ``UNLIMITED`` and the like."""
    match = _DURATION_PATTERN.match(text.strip())
    if match is None:
        return None

    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(seconds)


def size_bytes(text: str, cpus: int | None = None) -> int | None:
    """A Slurm size such as ``221076K`` or ``1G`` in bytes.

    Older Slurm appends ``c`` (per CPU) or ``n`` (per node) to ``ReqMem``; a per-CPU figure is
    multiplied by ``cpus``.
    """
    match = _SIZE_PATTERN.match(text.strip())
    if match is None:
        return None

    number, unit, per = match.groups()
    size = int(float(number) * _SIZE_UNITS[unit])
    if per == "c":
        size *= cpus or 1
    return size


def sacct_usage_final(text: str) -> bool:
    """Whether the sacct record is whole: the job's end and what it asked for are recorded.

    The record can lag the controller, in two ways. Its state may not show the end yet. And a
    job that ends within a second or two can be recorded ended before the record of its start
    reaches the database: ``ReqMem`` then reads ``16?`` (no memory request known) and
    ``Timelimit`` is empty, until the start record fills them in.
    """
    for fields in _sacct_rows(text):
        if "." not in fields[0]:
            return _ended(fields[1]) and _request_recorded(fields[6], fields[8])
    return False


def parse_sacct_usage(job_id: str, text: str) -> Usage | None:
    """Read ``sacct --parsable2 --noheader --format=`` :data:`SACCT_USAGE_FORMAT`.

    ``None`` when sacct has no allocation line for the job.
    """
    rows = list(_sacct_rows(text))
    allocation = next((fields for fields in rows if "." not in fields[0]), None)
    if allocation is None:
        return None

    _, state, exit_text, elapsed, total_cpu, _, req_mem, alloc_cpus, time_limit = allocation
    cpus = _int_or_none(alloc_cpus)
    walltime_requested = duration_s(time_limit)
    usage = Usage(
        job_id=job_id,
        source="slurm-sacct",
        walltime_used_s=duration_s(elapsed),
        cpu_time_s=duration_s(total_cpu),
        peak_mem_bytes=_peak_rss_bytes(rows),
        cpus=cpus,
        walltime_requested_s=None if walltime_requested is None else int(walltime_requested),
        mem_requested_bytes=size_bytes(req_mem, cpus),
        extra={"state": state, "exit_code": exit_text},
    )
    if usage.peak_mem_bytes is None:
        usage.notes.append("Slurm sampled no memory use: the job ended before its first sample")
    else:
        usage.notes.append(SAMPLED_RSS_NOTE)
    return usage


def parse_scontrol_usage(job_id: str, text: str) -> Usage:
    """Read ``scontrol --oneliner show job`` where there is no accounting."""
    fields = dict(_SCONTROL_FIELD.findall(text))
    tres = dict(item.partition("=")[::2] for item in fields.get("TRES", "").split(",") if item)
    cpus = _int_or_none(fields.get("NumCPUs", ""))
    walltime_requested = duration_s(fields.get("TimeLimit", ""))
    usage = Usage(
        job_id=job_id,
        source="slurm-scontrol",
        walltime_used_s=duration_s(fields.get("RunTime", "")),
        cpus=cpus,
        walltime_requested_s=None if walltime_requested is None else int(walltime_requested),
        mem_requested_bytes=size_bytes(tres.get("mem", "")),
        extra={"state": fields.get("JobState", ""), "exit_code": fields.get("ExitCode", "")},
        notes=[NO_ACCOUNTING_NOTE],
    )
    return usage


def no_accounting_usage(job_id: str, why: str) -> Usage:
    """The record for a job Slurm keeps no figures about, saying why."""
    return Usage(job_id=job_id, source="slurm", notes=[NO_ACCOUNTING_NOTE, why])


def _ended(state: str) -> bool:
    meaning = SLURM_STATES.get(state.split()[0] if state else "")
    return meaning is not None and meaning.phase is JobPhase.ENDED


def _request_recorded(req_mem: str, time_limit: str) -> bool:
    return size_bytes(req_mem) is not None and bool(time_limit.strip())


def _peak_rss_bytes(rows: list[list[str]]) -> int | None:
    sizes = [size_bytes(fields[5]) for fields in rows if fields[5]]
    known = [size for size in sizes if size is not None]
    return max(known) if known else None


def _sacct_rows(text: str) -> list[list[str]]:
    width = SACCT_USAGE_FORMAT.count(",") + 1
    rows = [line.split("|") for line in text.splitlines()]
    return [fields for fields in rows if len(fields) == width and fields[0]]


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None
