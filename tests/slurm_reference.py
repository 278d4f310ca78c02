"""The Slurm answers recorded from the test cluster, in ``tests/data/slurm/``."""

from __future__ import annotations

from pathlib import Path

SLURM_DATA = Path(__file__).parent / "data" / "slurm"


def recorded(case: str, command: str, job_id: str = "JOBID") -> str:
    """What ``command`` printed for ``case``, with the job id put back as ``job_id``."""
    text = (SLURM_DATA / f"{case}.{command}.txt").read_text()
    return text.replace("JOBID", job_id)
