"""What to run: the job spec every scheduler adapter and the script builder read.

A spec is plain data. It is built once (by the command line, the Snakemake executor or a
pipeline runner), validated as it is built, and never changed afterwards. Quantities carry their
unit in their name (``mem_bytes``, ``walltime_s``) so that adapters format them for their own
scheduler without guessing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

from qxub_core.environment import BASH_READONLY_VARIABLES, is_shell_name

KIB = 1024
_MEMORY_UNITS = {
    "b": 1,
    "k": KIB,
    "kb": KIB,
    "kib": KIB,
    "m": KIB**2,
    "mb": KIB**2,
    "mib": KIB**2,
    "g": KIB**3,
    "gb": KIB**3,
    "gib": KIB**3,
    "t": KIB**4,
    "tb": KIB**4,
    "tib": KIB**4,
}
_MEMORY_PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?|\.\d+)\s*([a-z]*)\s*$", re.IGNORECASE)
_MEMORY_FORMS = "a number with a unit: 512MB, 16GB, 1.5TB (binary: 1GB = 1024MB)"
# Far beyond any node or job, yet small enough that no scheduler misreads it.
MAX_MEMORY_BYTES = KIB**5
MAX_MEMORY_TEXT = "1024TB"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)([dhms])")
_DURATION_UNIT_S = {"d": 86400, "h": 3600, "m": 60, "s": 1}
_CLOCK_PATTERN = re.compile(r"^(?:(\d+)-)?(\d+):(\d{1,2})(?::(\d{1,2}))?$")
_DURATION_FORMS = "90s, 90m, 2h30m, 1d or 01:30:00 (a bare number is ambiguous)"
MAX_WALLTIME_S = 366 * 86400
MAX_WALLTIME_TEXT = "366d"

# Spec fields that adapters write into directive lines or submit arguments, with the option that
# sets each: a line break there would end the directive early and spill text into the script.
_DIRECTIVE_FIELDS = {
    "name": "--name",
    "project": "--project",
    "queue": "--queue",
    "storage": "--storage",
    "raw_resources": "--resources",
    "scheduler_args": "--scheduler-args",
}
_CONTROL_CHARACTER = re.compile(r"[\x00-\x1f\x7f]")


class SpecError(ValueError):
    """A value a user gave cannot describe a job; the message names the option and the forms."""


@dataclass(frozen=True)
class Resources:
    """What the job asks of the scheduler. ``None`` leaves the scheduler's default."""

    cpus: int | None = None
    mem_bytes: int | None = None
    walltime_s: int | None = None
    gpus: int | None = None
    disk_bytes: int | None = None


@dataclass(frozen=True)
class ContextSpec:
    """The execution context the job script activates before the command.

    ``kind`` is ``none``, ``conda``, ``modules`` or ``singularity``, or a name a plugin provides.
    """

    kind: str = "none"
    conda_env: str | None = None
    modules: tuple[str, ...] = ()
    image: str | None = None
    binds: tuple[str, ...] = ()


@dataclass(frozen=True)
class JobSpec:
    """Everything needed to render and submit one job.

    ``command`` is the argv as typed, passed to the job byte for byte. With ``shell`` set it holds
    exactly one element: a shell line that the job runs with ``bash -c`` on purpose.

    ``environment`` is the submitting environment captured for the job to restore; it is
    ``None`` with ``clean_env``, when the job starts from the login environment. ``variables``
    (``--var``) are applied on top of either.
    """

    command: tuple[str, ...]
    shell: bool = False
    name: str = "qxub"
    project: str | None = None
    queue: str | None = None
    resources: Resources = field(default_factory=Resources)
    context: ContextSpec = field(default_factory=ContextSpec)
    workdir: Path = field(default_factory=Path.cwd)
    variables: Mapping[str, str] = field(default_factory=dict)
    clean_env: bool = False
    environment: Mapping[str, str] | None = None
    out_copy: Path | None = None
    err_copy: Path | None = None
    storage: str | None = None
    raw_resources: tuple[str, ...] = ()
    scheduler_args: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.command:
            raise SpecError("no command given: put the command after '--'")
        if self.shell and len(self.command) != 1:
            raise SpecError("--shell takes exactly one shell line")
        for field_name, option in _DIRECTIVE_FIELDS.items():
            _refuse_control_characters(getattr(self, field_name), option)
        _refuse_variable_names(self.variables)


def _refuse_control_characters(value: str | tuple[str, ...] | None, option: str) -> None:
    """Refuse a newline, tab or other control character in a value bound for a directive."""
    texts = (value,) if isinstance(value, str) else value or ()
    for text in texts:
        if _CONTROL_CHARACTER.search(text):
            raise SpecError(
                f"{option}: {text!r} contains a control character (such as a line break); "
                "give a value on one line"
            )


def _refuse_variable_names(variables: Mapping[str, str]) -> None:
    """Refuse every ``--var`` name the job script could not export, listing them all."""
    invalid = [name for name in variables if not is_shell_name(name)]
    readonly = sorted(name for name in variables if name in BASH_READONLY_VARIABLES)
    reasons = []
    if invalid:
        reasons.append(f"{', '.join(map(repr, invalid))} (not a shell variable name)")
    if readonly:
        reasons.append(f"{', '.join(readonly)} (read-only in bash)")
    if reasons:
        raise SpecError(f"--var: cannot set {'; '.join(reasons)}")


def parse_memory_bytes(text: str, option: str = "--mem") -> int:
    """Read a memory size such as ``512MB``, ``16GB`` or ``1.5TB`` into bytes.

    Units are binary, as schedulers read them (1GB = 1024MB). A fraction is kept exact in a
    smaller unit, so ``1.5GB`` is 1536 MiB (the arithmetic is exact: no float rounding). A bare
    number is refused: PBS reads it as bytes, Slurm as megabytes; so is more than 1024TB.
    """
    match = _MEMORY_PATTERN.match(text)
    unit = match.group(2).lower() if match else ""
    if match is None or unit not in _MEMORY_UNITS:
        raise SpecError(f"{option}: cannot read {text!r}; use {_MEMORY_FORMS}")

    size = round(Fraction(match.group(1)) * _MEMORY_UNITS[unit])
    if size <= 0:
        raise SpecError(f"{option}: {text!r} is not a positive size; use {_MEMORY_FORMS}")
    if size > MAX_MEMORY_BYTES:
        raise SpecError(
            f"{option}: {text!r} is more than the most qxub asks for, {MAX_MEMORY_TEXT}"
        )
    return size


def format_memory(mem_bytes: int) -> str:
    """The largest whole unit for a size, as schedulers accept it: ``16GB``, ``1536MB``."""
    for unit in ("TB", "GB", "MB", "KB"):
        scale = _MEMORY_UNITS[unit.lower()]
        if mem_bytes % scale == 0:
            return f"{mem_bytes // scale}{unit}"
    return f"{mem_bytes}B"


def parse_walltime_s(text: str, option: str = "--runtime") -> int:
    """Read a duration such as ``90s``, ``90m``, ``2h30m``, ``1d`` or ``01:30:00`` into seconds.

    A bare number is refused: users mean minutes on Slurm and seconds on PBS; so is more than
    366 days. Fractions (``1.5h``) are summed exactly.
    """
    compact = text.strip().lower()
    seconds = _clock_seconds(compact)
    if seconds is None:
        seconds = _unit_seconds(compact)
    if seconds is None:
        raise SpecError(f"{option}: cannot read {text!r}; use {_DURATION_FORMS}")
    if seconds <= 0:
        raise SpecError(f"{option}: {text!r} is not a positive duration; use {_DURATION_FORMS}")
    if seconds > MAX_WALLTIME_S:
        raise SpecError(
            f"{option}: {text!r} is longer than the most qxub asks for, {MAX_WALLTIME_TEXT}"
        )
    return seconds


def format_walltime(walltime_s: int) -> str:
    """``HH:MM:SS`` with hours allowed past 24, as both PBS and Slurm read it."""
    hours, rest = divmod(walltime_s, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours:02d}:{minutes:02d}:{seconds:02d}"


def _clock_seconds(text: str) -> int | None:
    match = _CLOCK_PATTERN.match(text)
    if match is None:
        return None

    days, first, second, third = match.groups()
    if third is None:
        hours, minutes, seconds = 0, int(first), int(second)
    else:
        hours, minutes, seconds = int(first), int(second), int(third)
    if minutes >= 60 and third is not None or seconds >= 60:
        return None
    return int(days or 0) * 86400 + hours * 3600 + minutes * 60 + seconds


def _unit_seconds(text: str) -> int | None:
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        return None

    units = [unit for _, unit in parts]
    if len(set(units)) != len(units):
        return None
    return round(sum(Fraction(number) * _DURATION_UNIT_S[unit] for number, unit in parts))
