"""Whether the Slurm test cluster of ``tests/cluster/slurm-up.sh`` is there to run jobs on."""

from __future__ import annotations

import functools
import os
import subprocess

START_HINT = "start it with tests/cluster/slurm-up.sh, then source tests/cluster/slurm-env.sh"


@functools.cache
def slurm_cluster_problem() -> str | None:
    """Why the test cluster cannot take jobs, or ``None`` when it can."""
    if not os.environ.get("SLURM_CONF"):
        return f"the Slurm test cluster is not configured (SLURM_CONF unset): {START_HINT}"
    try:
        done = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"],
            capture_output=True,
            text=True,
            timeout=10,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"the Slurm test cluster does not answer ({exc}): {START_HINT}"
    if done.returncode != 0 or not done.stdout.strip():
        why = (done.stderr.strip().splitlines() or ["no node"])[-1]
        return f"the Slurm test cluster does not answer ({why}): {START_HINT}"
    return None
