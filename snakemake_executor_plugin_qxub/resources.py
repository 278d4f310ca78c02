"""From a Snakemake job's resources to what qxub asks of the scheduler.

Snakemake hands the executor one flat mapping per job (rule resources, ``--set-resources`` and
``--default-resources`` already merged and evaluated for the attempt). This module reads it:

========================  ==================================================================
Snakemake resource        qxub request
========================  ==================================================================
``cpus_per_task``         CPUs; without it, the job's ``threads``
``mem_mb``                memory in megabytes (1 MB = 1024² bytes, as schedulers read it)
``mem_mib`` / ``mem``     memory, read only when ``mem_mb`` is absent (in that order)
``runtime``               walltime, in minutes
``gpus`` / ``gpu``        GPUs (both may be set only to the same number)
``disk_mb``               local disk in megabytes; ``disk_mib`` / ``disk`` as for memory
``qxub_queue``            queue (PBS) or partition (Slurm)
``qxub_project``          project (PBS) or account (Slurm)
``qxub_storage``          PBS ``-l storage=`` (e.g. ``scratch/ab12+gdata/ab12``)
``qxub_resources``        raw scheduler resources, ``key=value`` separated by commas or spaces
``qxub_scheduler_args``   raw submit arguments, one shell-quoted string (kept whole: the
                          scheduler adapter splits it as a shell would)
========================  ==================================================================

One rule for memory when several forms are set: Snakemake itself refuses a rule that sets
more than one of ``mem``, ``mem_mb`` and ``mem_mib``, and turns the one given into ``mem_mb``
(``mem="16GB"`` becomes 16000), from which it derives the others. ``mem_mb`` therefore always
wins; the other forms are read only from mappings that lack it.

A value that cannot describe a job raises :class:`ResourceError`, which fails that job alone.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from qxub_core.spec import KIB, Resources, SpecError, parse_memory_bytes

MIB = KIB**2
QXUB_RESOURCES = (
    "qxub_queue",
    "qxub_project",
    "qxub_storage",
    "qxub_resources",
    "qxub_scheduler_args",
)
_PLAIN_VALUE = re.compile(r"^[^\s\x00-\x1f\x7f]+$")
_RAW_RESOURCE = re.compile(r"^[A-Za-z_][\w.-]*=[^\s=][^\s]*$")


class ResourceError(ValueError):
    """A job's resource that qxub cannot turn into a request; the message names it."""


@dataclass(frozen=True)
class JobRequest:
    """What one Snakemake job asks of the scheduler, beside its command."""

    resources: Resources
    queue: str | None = None
    project: str | None = None
    storage: str | None = None
    raw_resources: tuple[str, ...] = ()
    scheduler_args: tuple[str, ...] = ()


def request_from_resources(resources: Mapping[str, object], threads: int) -> JobRequest:
    """Read a Snakemake job's resources (and its threads) into a :class:`JobRequest`."""
    _refuse_unknown_qxub_names(resources)

    quantities = Resources(
        cpus=_cpus(resources, threads),
        mem_bytes=_size_bytes(resources, "mem"),
        walltime_s=_walltime_s(resources),
        gpus=_gpus(resources),
        disk_bytes=_size_bytes(resources, "disk"),
    )
    return JobRequest(
        resources=quantities,
        queue=_plain_text(resources, "qxub_queue"),
        project=_plain_text(resources, "qxub_project"),
        storage=_plain_text(resources, "qxub_storage"),
        raw_resources=_raw_resources(resources),
        scheduler_args=_scheduler_args(resources),
    )


def _refuse_unknown_qxub_names(resources: Mapping[str, object]) -> None:
    unknown = sorted(name for name in resources if name.startswith("qxub_"))
    unknown = [name for name in unknown if name not in QXUB_RESOURCES]
    if unknown:
        valid = ", ".join(QXUB_RESOURCES)
        raise ResourceError(f"unknown resource {unknown[0]!r}; qxub reads {valid}")


def _cpus(resources: Mapping[str, object], threads: int) -> int:
    if _is_set(resources.get("cpus_per_task")):
        return _positive_int(resources, "cpus_per_task")
    if threads < 1:
        raise ResourceError(f"threads: {threads} is not a positive number of CPUs")
    return threads


def _size_bytes(resources: Mapping[str, object], stem: str) -> int | None:
    if _is_set(resources.get(f"{stem}_mb")):
        return _positive_int(resources, f"{stem}_mb") * MIB
    if _is_set(resources.get(f"{stem}_mib")):
        return _positive_int(resources, f"{stem}_mib") * MIB
    value = resources.get(stem)
    if not _is_set(value):
        return None
    try:
        return parse_memory_bytes(str(value), option=stem)
    except SpecError as error:
        raise ResourceError(str(error)) from None


def _walltime_s(resources: Mapping[str, object]) -> int | None:
    if not _is_set(resources.get("runtime")):
        return None
    return _positive_int(resources, "runtime") * 60


def _gpus(resources: Mapping[str, object]) -> int | None:
    counts = {
        name: _count(resources, name) for name in ("gpus", "gpu") if _is_set(resources.get(name))
    }
    if len(set(counts.values())) > 1:
        raise ResourceError(f"gpus={counts['gpus']} and gpu={counts['gpu']} disagree; set one")
    count = next(iter(counts.values()), None)
    return count or None


def _plain_text(resources: Mapping[str, object], name: str) -> str | None:
    value = resources.get(name)
    if not _is_set(value):
        return None
    text = str(value)
    if not _PLAIN_VALUE.match(text):
        raise ResourceError(f"{name}: {text!r} must be one word: {_word_problem(text)}")
    return text


def _word_problem(text: str) -> str:
    if not text:
        return "it is empty"
    if re.search(r"[\x00-\x1f\x7f]", text):
        return "it holds a line break or another control character"
    return "it holds a space"


def _raw_resources(resources: Mapping[str, object]) -> tuple[str, ...]:
    value = resources.get("qxub_resources")
    if not _is_set(value):
        return ()
    items = tuple(item for item in re.split(r"[,\s]+", str(value)) if item)
    for item in items:
        if not _RAW_RESOURCE.match(item):
            raise ResourceError(f"qxub_resources: {item!r} is not of the form key=value")
    return items


def _scheduler_args(resources: Mapping[str, object]) -> tuple[str, ...]:
    value = resources.get("qxub_scheduler_args")
    if not _is_set(value):
        return ()
    text = str(value)
    try:
        shlex.split(text)
    except ValueError as error:
        raise ResourceError(f"qxub_scheduler_args: cannot split {text!r}: {error}") from None
    return (text,)


def _is_set(value: object) -> bool:
    return value is not None and value != ""


def _positive_int(resources: Mapping[str, object], name: str) -> int:
    number = _count(resources, name)
    if number < 1:
        raise ResourceError(f"{name}: {resources[name]!r} is not a positive whole number")
    return number


def _count(resources: Mapping[str, object], name: str) -> int:
    value = resources[name]
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise ResourceError(f"{name}: {value!r} is not a whole number")
    try:
        number = int(value)
    except ValueError:
        raise ResourceError(f"{name}: {value!r} is not a whole number") from None
    if number < 0:
        raise ResourceError(f"{name}: {value!r} is negative")
    return number
