"""Job log paths stay one safe file per job, whatever the wildcards hold."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from qxub_core.status import ERR_FILE, OUT_FILE
from snakemake_executor_plugin_qxub.logs import (
    MAX_COMPONENT_BYTES,
    job_log_path,
    path_component,
    remove_job_log,
    write_job_log,
)


def test_log_path_is_rule_wildcards_job_id(tmp_path: Path) -> None:
    path = job_log_path(tmp_path, "align", {"sample": "A1", "lane": "2"}, "1234.pbs")
    assert path == tmp_path / "align" / "sample=A1,lane=2" / "1234.pbs.log"


def test_rule_without_wildcards(tmp_path: Path) -> None:
    path = job_log_path(tmp_path, "gather", {}, "77")
    assert path == tmp_path / "gather" / "no-wildcards" / "77.log"


def test_slashes_and_dots_cannot_leave_the_log_dir(tmp_path: Path) -> None:
    for value in ("a/b/c", "../../etc", "..", ".", "/abs"):
        path = job_log_path(tmp_path, "r", {"w": value}, "1")
        assert path.parent.parent == tmp_path / "r"
        assert path.resolve().is_relative_to(tmp_path.resolve())


def test_odd_characters_are_encoded_and_stay_distinct(tmp_path: Path) -> None:
    values = ["a b", "a%20b", "a,b=c", "naïve", "x\ny", "*?"]
    components = {job_log_path(tmp_path, "r", {"w": value}, "1").parent.name for value in values}
    assert len(components) == len(values)
    for component in components:
        assert "/" not in component and "\n" not in component and " " not in component


def test_long_values_are_cut_but_stay_distinct(tmp_path: Path) -> None:
    first = job_log_path(tmp_path, "r", {"w": "x" * 5000 + "1"}, "1")
    second = job_log_path(tmp_path, "r", {"w": "x" * 5000 + "2"}, "1")
    assert first != second
    assert len(first.parent.name) <= MAX_COMPONENT_BYTES
    first.parent.mkdir(parents=True)


def test_the_special_names_are_encoded() -> None:
    assert path_component("..") == "%2E%2E"
    assert path_component(".") == "%2E"
    assert path_component("") == "%00"


def test_written_log_holds_stdout_then_stderr(tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / OUT_FILE).write_bytes(b"out line\npartial")
    (job_dir / ERR_FILE).write_bytes(b"err \xff line\n")

    log = write_job_log(job_dir, tmp_path / "logs" / "r" / "w=1" / "9.log", "9")

    assert log.read_bytes() == (
        b"==> stdout of job 9 <==\nout line\npartial\n==> stderr of job 9 <==\nerr \xff line\n"
    )


def test_log_of_a_job_that_wrote_nothing(tmp_path: Path) -> None:
    log = write_job_log(tmp_path, tmp_path / "logs" / "9.log", "9")
    assert log.read_text() == "==> stdout of job 9 <==\n==> stderr of job 9 <==\n"


def test_removing_a_log_prunes_empty_directories_only(tmp_path: Path) -> None:
    log_dir = tmp_path / "logs"
    kept = job_log_path(log_dir, "r", {"w": "1"}, "1")
    removed = job_log_path(log_dir, "r", {"w": "2"}, "2")
    for path in (kept, removed):
        path.parent.mkdir(parents=True)
        path.write_text("log")

    remove_job_log(removed, log_dir)

    assert not removed.parent.exists()
    assert kept.exists()
    assert log_dir.is_dir()


@pytest.mark.parametrize("padding", range(6))
def test_a_long_value_is_cut_between_whole_characters(tmp_path: Path, padding: int) -> None:
    # Two-byte characters at every offset from the cut: no escape and no character is split.
    value = "x" * padding + "÷" * 400
    component = job_log_path(tmp_path, "r", {"w": value}, "1").parent.name
    kept = component.rpartition("~")[0]

    assert len(component) <= MAX_COMPONENT_BYTES
    assert re.fullmatch(r"w=x*(%C3%B7)+", kept), kept
    assert unquote(kept, errors="strict").startswith("w=" + "x" * padding + "÷")


def test_a_cut_keeps_whole_four_byte_characters(tmp_path: Path) -> None:
    for padding in range(12):
        value = "y" * padding + "\U0001f600" * 100
        kept = path_component(value).rpartition("~")[0]
        assert unquote(kept, errors="strict") == "y" * padding + "\U0001f600" * (
            (len(kept) - padding) // 12
        )
