"""Running the real ``snakemake --executor qxub`` in a subprocess, on a test's backend."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
from collections.abc import Sequence
from pathlib import Path

from conftest import Backend

SNAKEMAKE = Path(sys.executable).with_name("snakemake")
WORKFLOW_TIMEOUT_S = 300.0
MIB = 1024**2


def snakemake_command(backend: Backend, args: Sequence[str] = ()) -> list[str]:
    """``snakemake --executor qxub`` on ``backend`` with short status and fallback intervals."""
    return [
        str(SNAKEMAKE),
        "--executor",
        "qxub",
        "--qxub-scheduler",
        backend.name,
        "--qxub-status-interval-s",
        "0.2",
        "--qxub-fallback-interval-s",
        "1",
        "--jobs",
        "10",
        "--latency-wait",
        "5",
        *args,
    ]


def run_snakemake(
    backend: Backend, workdir: Path, args: Sequence[str] = (), timeout_s: float = WORKFLOW_TIMEOUT_S
) -> subprocess.CompletedProcess[str]:
    """Run a workflow to its end; stdout and stderr captured as text."""
    return subprocess.run(
        snakemake_command(backend, args),
        cwd=workdir,
        env=backend.env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout_s,
    )


def write_snakefile(workdir: Path, text: str) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "Snakefile"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def job_dirs(job_root: Path, rule: str) -> list[Path]:
    """The job directories of one rule's jobs, oldest first."""
    if not job_root.exists():
        return []
    found = [path for path in job_root.iterdir() if f"snakejob.{rule}." in path.name]
    return sorted(found, key=lambda path: path.stat().st_mtime)


def requested_mem_bytes(job_dir: Path) -> int | None:
    """The memory a job asked its scheduler for: its directive, or the local supervisor's record
    (``None`` until the supervisor has written it)."""
    script = (job_dir / "job.sh").read_text()
    slurm = re.search(r"^#SBATCH --mem=(\d+)M$", script, re.MULTILINE)
    if slurm:
        return int(slurm.group(1)) * MIB
    pbs = re.search(r"^#PBS -l .*\bmem=(\d+)mb\b", script, re.MULTILINE | re.IGNORECASE)
    if pbs:
        return int(pbs.group(1)) * MIB
    try:
        usage = json.loads((job_dir / "usage.json").read_text())
    except FileNotFoundError:
        return None
    value = usage.get("mem_requested_bytes")
    return int(value) if value is not None else None
