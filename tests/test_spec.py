"""Memory sizes and durations as users type them, and the job spec's own checks."""

from __future__ import annotations

import pytest

from qxub_core.spec import (
    JobSpec,
    SpecError,
    format_memory,
    format_walltime,
    parse_memory_bytes,
    parse_walltime_s,
)

MIB = 1024**2
GIB = 1024**3


@pytest.mark.parametrize(
    ("text", "mem_bytes"),
    [
        ("512MB", 512 * MIB),
        ("16GB", 16 * GIB),
        ("16gb", 16 * GIB),
        ("16G", 16 * GIB),
        ("16GiB", 16 * GIB),
        ("1GB", 1024 * MIB),
        ("1.5TB", 1536 * GIB),
        ("1.5GB", 1536 * MIB),
        (".5GB", 512 * MIB),
        ("100KB", 100 * 1024),
        ("4096B", 4096),
        (" 2 GB ", 2 * GIB),
    ],
)
def test_memory_forms_are_binary_units(text: str, mem_bytes: int) -> None:
    assert parse_memory_bytes(text) == mem_bytes


@pytest.mark.parametrize("text", ["16", "1024", "16XB", "GB", "", "-1GB", "0GB", "1,5GB", "1e3MB"])
def test_memory_without_a_unit_or_positive_size_is_refused(text: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_memory_bytes(text, "--mem")

    message = str(refused.value)
    assert message.startswith("--mem: ")
    assert "512MB, 16GB, 1.5TB" in message


def test_memory_refusal_names_the_option_it_came_from() -> None:
    with pytest.raises(SpecError, match="^--disk: cannot read '5'"):
        parse_memory_bytes("5", "--disk")


@pytest.mark.parametrize(
    ("mem_bytes", "text"),
    [(16 * GIB, "16GB"), (1536 * MIB, "1536MB"), (2 * 1024 * GIB, "2TB"), (1000, "1000B")],
)
def test_memory_is_formatted_in_the_largest_whole_unit(mem_bytes: int, text: str) -> None:
    assert format_memory(mem_bytes) == text


@pytest.mark.parametrize(
    ("text", "walltime_s"),
    [
        ("90s", 90),
        ("90m", 5400),
        ("2h", 7200),
        ("2h30m", 9000),
        ("1d", 86400),
        ("1d12h", 129600),
        ("1h30m15s", 5415),
        ("1.5h", 5400),
        ("01:30:00", 5400),
        ("100:00:00", 360000),
        ("90:00", 5400),
        ("2-00:00:00", 172800),
        ("2H", 7200),
    ],
)
def test_duration_forms(text: str, walltime_s: int) -> None:
    assert parse_walltime_s(text) == walltime_s


@pytest.mark.parametrize(
    "text", ["90", "0", "", "2h2h", "h", "1:60:00", "1:00:60", "0s", "1w", "-1h", "2 hours"]
)
def test_ambiguous_or_unreadable_durations_are_refused(text: str) -> None:
    with pytest.raises(SpecError) as refused:
        parse_walltime_s(text, "--runtime")

    assert str(refused.value).startswith("--runtime: ")
    assert "90s, 90m, 2h30m, 1d or 01:30:00" in str(refused.value)


def test_bare_number_is_called_ambiguous() -> None:
    with pytest.raises(SpecError, match="a bare number is ambiguous"):
        parse_walltime_s("90")


@pytest.mark.parametrize(("walltime_s", "text"), [(5400, "01:30:00"), (360000, "100:00:00")])
def test_walltime_is_formatted_as_hours_minutes_seconds(walltime_s: int, text: str) -> None:
    assert format_walltime(walltime_s) == text


def test_a_spec_needs_a_command_and_one_shell_line() -> None:
    with pytest.raises(SpecError, match="no command given"):
        JobSpec(command=())
    with pytest.raises(SpecError, match="--shell takes exactly one shell line"):
        JobSpec(command=("a", "b"), shell=True)


def test_a_spec_refuses_variables_the_job_script_cannot_export() -> None:
    with pytest.raises(SpecError) as refused:
        JobSpec(command=("true",), variables={"EUID": "0", "BASHOPTS": "x", "1X": "y", "OK": "z"})

    assert str(refused.value) == (
        "--var: cannot set '1X' (not a shell variable name); BASHOPTS, EUID (read-only in bash)"
    )
    assert JobSpec(command=("true",), variables={"OK": "z"}).variables == {"OK": "z"}


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("99999999999999999999d", "longer than the most qxub asks for, 366d"),
        ("366d1s", "longer than the most qxub asks for, 366d"),
        ("8784:00:01", "longer than the most qxub asks for, 366d"),
    ],
)
def test_an_absurd_walltime_is_refused_with_the_bound(text: str, words: str) -> None:
    with pytest.raises(SpecError, match=f"^--runtime: '{text}' is {words}$"):
        parse_walltime_s(text)


def test_walltime_up_to_the_bound_is_read_exactly() -> None:
    assert parse_walltime_s("366d") == 366 * 86400
    assert parse_walltime_s("365.99999999999999999999d") == 366 * 86400
    assert parse_walltime_s("0.1h") == 360


def test_an_absurd_memory_size_is_refused_with_the_bound() -> None:
    with pytest.raises(SpecError, match="^--mem: '99999999999999TB' is more than .* 1024TB$"):
        parse_memory_bytes("99999999999999TB")

    assert parse_memory_bytes("1024TB") == 1024**5
    assert parse_memory_bytes("0.1KB") == 102
