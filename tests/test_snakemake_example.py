"""The example workflow of the user guide, run end to end on each backend."""

from __future__ import annotations

import csv
import shutil
import sys
from pathlib import Path

import pytest
from conftest import Backend, wait_for
from snakemake_workflow import (
    MIB,
    WORKFLOW_TIMEOUT_S,
    job_dirs,
    requested_mem_bytes,
    run_snakemake,
)

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "snakemake"
# The workflow's own files: a user's earlier run leaves its outputs beside them, never copied.
EXAMPLE_SOURCES = ("Snakefile",)


def copy_example(workdir: Path) -> None:
    workdir.mkdir()
    for name in EXAMPLE_SOURCES:
        shutil.copy2(EXAMPLE / name, workdir / name)


@pytest.mark.timeout(WORKFLOW_TIMEOUT_S + 60)
def test_the_example_workflow_runs_end_to_end(
    backend: Backend, tmp_path: Path, job_root: Path
) -> None:
    workdir = tmp_path / "example"
    copy_example(workdir)

    done = run_snakemake(backend, workdir)

    assert done.returncode == 0, done.stderr
    report = (workdir / "results" / "report.txt").read_text()
    assert report == "alpha 1000\nbeta 1000\ngamma/delta 1000\n3000\n"

    first, retry = job_dirs(job_root, "fit_model")
    wait_for(lambda: requested_mem_bytes(retry) is not None, 30, "the retry's request")
    assert requested_mem_bytes(retry) == 300 * MIB
    assert "fit_model needs 300 MB, got 150 MB" in (first / "err").read_text()

    logs = workdir / ".snakemake" / "qxub_logs"
    kept = sorted(path.relative_to(logs).parts[:2] for path in logs.rglob("*.log"))
    assert kept == [("fit_model", "no-wildcards")]
    with open(logs / "efficiency.csv", newline="") as handle:
        rules = [row["rule"] for row in csv.DictReader(handle)]
    assert rules == ["count", "fit_model", "report", "simulate"]


def test_an_earlier_run_in_the_example_folder_is_not_copied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "docs-example"
    shutil.copytree(
        EXAMPLE, folder, ignore=shutil.ignore_patterns(".*", "data", "counts", "results")
    )
    for output in ("data/alpha.txt", "results/report.txt", ".snakemake/locks/0.input.lock"):
        (folder / output).parent.mkdir(parents=True, exist_ok=True)
        (folder / output).write_text("left by a user's run\n")
    monkeypatch.setattr(sys.modules[__name__], "EXAMPLE", folder)

    copy_example(tmp_path / "example")

    copied = sorted(
        str(path.relative_to(tmp_path / "example")) for path in (tmp_path / "example").rglob("*")
    )
    assert copied == sorted(EXAMPLE_SOURCES)
