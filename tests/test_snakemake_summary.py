"""The per-rule efficiency summary: requested against used, printed and as CSV."""

from __future__ import annotations

import csv
from pathlib import Path

from qxub_core.usage import Usage
from snakemake_executor_plugin_qxub.summary import format_table, summarize, write_csv

MIB = 1024**2


def _usage(job_id: str, cpu_s: float, wall_s: float, peak_mib: int, mem_mib: int) -> Usage:
    return Usage(
        job_id=job_id,
        source="test",
        walltime_used_s=wall_s,
        cpu_time_s=cpu_s,
        peak_mem_bytes=peak_mib * MIB,
        cpus=2,
        walltime_requested_s=600,
        mem_requested_bytes=mem_mib * MIB,
    )


def test_one_row_per_rule_with_largest_requests_and_mean_efficiencies() -> None:
    records = [
        ("align", _usage("1", cpu_s=100, wall_s=100, peak_mib=512, mem_mib=1024)),
        ("align", _usage("2", cpu_s=200, wall_s=100, peak_mib=256, mem_mib=2048)),
        ("call", None),
    ]

    align, call = summarize(records)

    assert (align.rule, align.jobs, align.jobs_with_usage) == ("align", 2, 2)
    assert align.cpus_requested == 2
    assert align.cpu_efficiency_mean == (0.5 + 1.0) / 2
    assert align.mem_requested_mb == 2048
    assert align.mem_peak_mb == 512
    assert align.mem_efficiency_mean == (0.5 + 0.125) / 2
    assert align.walltime_used_max_s == 100
    assert (call.rule, call.jobs, call.jobs_with_usage) == ("call", 1, 0)
    assert call.cpu_efficiency_mean is None


def test_csv_has_a_header_and_empty_cells_for_unknown_figures(tmp_path: Path) -> None:
    rows = summarize([("align", _usage("1", 50, 100, 512, 1024)), ("call", None)])

    path = write_csv(rows, tmp_path / "logs" / "efficiency.csv")

    with open(path, newline="") as handle:
        table = list(csv.DictReader(handle))
    assert [row["rule"] for row in table] == ["align", "call"]
    assert table[0]["cpu_efficiency_mean"] == "0.25"
    assert table[0]["mem_peak_mb"] == "512"
    assert table[1]["cpu_efficiency_mean"] == ""


def test_table_shows_percent_and_peak_over_request() -> None:
    text = format_table(summarize([("align", _usage("1", 50, 100, 512, 1024))]))
    assert "25%" in text
    assert "512MB/1024MB" in text
    assert "0:01:40/0:10:00" in text
