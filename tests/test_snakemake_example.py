"""The example workflow of the user guide, run end to end on each backend."""

from __future__ import annotations

import csv
import shutil
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


@pytest.mark.timeout(WORKFLOW_TIMEOUT_S + 60)
def test_the_example_workflow_runs_end_to_end(
    backend: Backend, tmp_path: Path, job_root: Path
) -> None:
    workdir = tmp_path / "example"
    shutil.copytree(EXAMPLE, workdir)

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
