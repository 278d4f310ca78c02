"""Slurm's accounting into qxub's usage record, from answers of a real cluster."""

from __future__ import annotations

import pytest
from slurm_reference import recorded

from qxub_core.schedulers.slurm_usage import (
    NO_ACCOUNTING_NOTE,
    duration_s,
    no_accounting_usage,
    parse_sacct_usage,
    parse_scontrol_usage,
    sacct_usage_final,
    size_bytes,
)

MIB = 1024**2


def test_usage_of_a_finished_job() -> None:
    usage = parse_sacct_usage("11", recorded("usage", "sacct-usage", "11"))

    assert usage is not None
    # The recorded job held 200 MiB for 7 s on 2 CPUs, having asked for 1G and ten minutes.
    assert usage.source == "slurm-sacct"
    assert usage.walltime_used_s is not None and 7 <= usage.walltime_used_s < 20
    assert usage.cpu_time_s is not None and 0 < usage.cpu_time_s < 5
    assert usage.peak_mem_bytes is not None and 200 * MIB < usage.peak_mem_bytes < 300 * MIB
    assert usage.cpus == 2
    assert usage.mem_requested_bytes == 1024 * MIB
    assert usage.walltime_requested_s == 600
    assert usage.extra == {"state": "COMPLETED", "exit_code": "0:0"}
    assert usage.mem_efficiency == pytest.approx(usage.peak_mem_bytes / (1024 * MIB))
    assert usage.walltime_efficiency == pytest.approx(usage.walltime_used_s / 600)


def test_peak_memory_is_the_largest_step() -> None:
    text = (
        recorded("usage", "sacct-usage", "11") + "11.0|COMPLETED|0:0|00:00:01|00:00:00|900M||2|\n"
    )

    usage = parse_sacct_usage("11", text)

    assert usage is not None and usage.peak_mem_bytes == 900 * MIB


def test_a_job_too_short_to_sample_says_so_rather_than_zero() -> None:
    usage = parse_sacct_usage("3", recorded("exit3", "sacct-usage", "3"))

    assert usage is not None
    assert usage.peak_mem_bytes is None
    assert usage.mem_efficiency is None
    assert any("no memory use" in note for note in usage.notes)


def test_usage_of_a_job_killed_at_its_time_limit() -> None:
    usage = parse_sacct_usage("5", recorded("timeout", "sacct-usage", "5"))

    assert usage is not None
    assert usage.walltime_used_s is not None and usage.walltime_used_s >= 60
    assert usage.walltime_requested_s == 60
    assert usage.peak_mem_bytes is not None and usage.peak_mem_bytes > 0
    assert usage.extra["state"] == "TIMEOUT"


def test_unlimited_time_is_no_request() -> None:
    usage = parse_sacct_usage("3", recorded("exit3", "sacct-usage", "3"))

    assert usage is not None
    assert usage.walltime_requested_s is None
    assert usage.walltime_efficiency is None


def test_no_record_is_none() -> None:
    assert parse_sacct_usage("3", "") is None


def test_final_only_once_sacct_has_the_end() -> None:
    assert sacct_usage_final(recorded("usage", "sacct-usage"))
    assert sacct_usage_final(recorded("cancelled", "sacct-usage"))
    assert not sacct_usage_final(recorded("running", "sacct-usage"))
    assert not sacct_usage_final(recorded("pending", "sacct-usage"))
    assert not sacct_usage_final("")


def test_not_final_while_the_start_record_is_missing() -> None:
    """Recorded: a one-second job shown COMPLETED before Slurm's database had its requests."""
    text = recorded("start-unrecorded", "sacct-usage")

    assert not sacct_usage_final(text)
    usage = parse_sacct_usage("JOBID", text)
    assert usage is not None and usage.mem_requested_bytes is None


def test_usage_from_the_controller_without_accounting() -> None:
    usage = parse_scontrol_usage("11", recorded("usage", "scontrol", "11"))

    assert usage.source == "slurm-scontrol"
    assert usage.walltime_used_s is not None and 7 <= usage.walltime_used_s < 20
    assert usage.cpus == 2
    assert usage.mem_requested_bytes == 1024 * MIB
    assert usage.walltime_requested_s == 600
    assert usage.cpu_time_s is None
    assert usage.peak_mem_bytes is None
    assert NO_ACCOUNTING_NOTE in usage.notes


def test_a_job_nobody_remembers_gets_no_figures() -> None:
    usage = no_accounting_usage("11", "scontrol no longer knows the job")

    assert (usage.walltime_used_s, usage.cpu_time_s, usage.peak_mem_bytes) == (None, None, None)
    assert usage.notes == [NO_ACCOUNTING_NOTE, "scontrol no longer knows the job"]


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("00:00:09", 9),
        ("00:00.913", 0.913),
        ("01:02:03", 3723),
        ("1-00:00:00", 86400),
        ("2-01:00:05", 176405),
        ("12:34", 754),
        ("UNLIMITED", None),
        ("Partition_Limit", None),
        ("", None),
    ],
)
def test_durations(text: str, seconds: float | None) -> None:
    assert duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "cpus", "size"),
    [
        ("221076K", None, 221076 * 1024),
        ("500M", None, 500 * MIB),
        ("1G", None, 1024 * MIB),
        ("1.5G", None, 1536 * MIB),
        ("0", None, 0),
        ("4000Mc", 4, 16000 * MIB),
        ("16Gn", 4, 16 * 1024 * MIB),
        ("", None, None),
        ("lots", None, None),
    ],
)
def test_sizes(text: str, cpus: int | None, size: int | None) -> None:
    assert size_bytes(text, cpus) == size
