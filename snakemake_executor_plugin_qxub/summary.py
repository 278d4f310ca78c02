"""The per-rule efficiency summary printed at the end of a run and written as CSV.

Each row gathers the usage records of one rule's jobs: what they requested (the largest
request, since a retry may ask for more) against what they used (the largest use, and the mean
efficiency over the jobs that reported one). A figure no job reported stays empty.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from statistics import mean

from qxub_core.usage import Usage

SUMMARY_FILE = "efficiency.csv"
MIB = 1024**2


@dataclass(frozen=True)
class RuleEfficiency:
    """One rule's requested against used CPU, memory and walltime."""

    rule: str
    jobs: int
    jobs_with_usage: int
    cpus_requested: int | None
    cpu_efficiency_mean: float | None
    mem_requested_mb: float | None
    mem_peak_mb: float | None
    mem_efficiency_mean: float | None
    walltime_requested_s: float | None
    walltime_used_max_s: float | None
    walltime_efficiency_mean: float | None


def summarize(records: Iterable[tuple[str, Usage | None]]) -> list[RuleEfficiency]:
    """One row per rule, in rule-name order, from ``(rule, usage record or None)`` pairs."""
    by_rule: dict[str, list[Usage | None]] = {}
    for rule, usage in records:
        by_rule.setdefault(rule, []).append(usage)
    return [_rule_row(rule, usages) for rule, usages in sorted(by_rule.items())]


def write_csv(rows: Sequence[RuleEfficiency], path: Path) -> Path:
    """Write the rows as CSV with a header line; empty cells for figures no job reported."""
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [column.name for column in fields(RuleEfficiency)]
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(names)
        for row in rows:
            writer.writerow(_csv_cell(getattr(row, name)) for name in names)
    return path


def format_table(rows: Sequence[RuleEfficiency]) -> str:
    """A short human-readable table, one line per rule."""
    header = f"{'rule':<24} {'jobs':>5} {'CPU eff':>8} {'mem peak/req':>18} {'walltime/req':>18}"
    lines = [header]
    for row in rows:
        memory = f"{_mb(row.mem_peak_mb)}/{_mb(row.mem_requested_mb)}"
        walltime = f"{_clock(row.walltime_used_max_s)}/{_clock(row.walltime_requested_s)}"
        cpu = _percent(row.cpu_efficiency_mean)
        lines.append(f"{row.rule:<24} {row.jobs:>5} {cpu:>8} {memory:>18} {walltime:>18}")
    return "\n".join(lines)


def _rule_row(rule: str, usages: list[Usage | None]) -> RuleEfficiency:
    known = [usage for usage in usages if usage is not None]

    mem_requested = _largest(usage.mem_requested_bytes for usage in known)
    mem_peak = _largest(usage.peak_mem_bytes for usage in known)
    return RuleEfficiency(
        rule=rule,
        jobs=len(usages),
        jobs_with_usage=len(known),
        cpus_requested=_largest_int(usage.cpus for usage in known),
        cpu_efficiency_mean=_mean(usage.cpu_efficiency for usage in known),
        mem_requested_mb=None if mem_requested is None else mem_requested / MIB,
        mem_peak_mb=None if mem_peak is None else mem_peak / MIB,
        mem_efficiency_mean=_mean(usage.mem_efficiency for usage in known),
        walltime_requested_s=_largest(usage.walltime_requested_s for usage in known),
        walltime_used_max_s=_largest(usage.walltime_used_s for usage in known),
        walltime_efficiency_mean=_mean(usage.walltime_efficiency for usage in known),
    )


def _largest(values: Iterable[float | int | None]) -> float | None:
    present = [float(value) for value in values if value is not None]
    return max(present) if present else None


def _largest_int(values: Iterable[int | None]) -> int | None:
    present = [value for value in values if value is not None]
    return max(present) if present else None


def _mean(values: Iterable[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return mean(present) if present else None


def _csv_cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


def _mb(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}MB"


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{rest:02d}"
