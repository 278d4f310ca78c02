"""Starting the real ``qxub`` for the benchmarks: local backend, private job root, defaults.

The benchmarks keep qxub's default intervals (a 0.1 s tick), so the figures are what a user gets.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

QXUB = Path(sys.executable).with_name("qxub")


def bench_env(job_root: Path) -> dict[str, str]:
    """This environment without qxub settings, with a private job root."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("QXUB_")}
    env["QXUB_JOB_ROOT"] = str(job_root)
    return env


def job_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="qxub-bench-")) / "jobs"


def start_qxub(
    args: Sequence[str], root: Path, extra_env: dict[str, str] | None = None, **popen: Any
) -> subprocess.Popen[bytes]:
    """``qxub --scheduler local ARGS`` in the background."""
    command = [str(QXUB), "--scheduler", "local", *args]
    env = {**bench_env(root), **(extra_env or {})}
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, **popen)


def report(what: str, samples_s: Sequence[float], unit: str = "s", target: str = "") -> None:
    """One line: the median, the spread and the target, for the README's table."""
    median = statistics.median(samples_s)
    low, high = min(samples_s), max(samples_s)
    suffix = f" (target {target})" if target else ""
    print(
        f"{what}: median {median:.3f} {unit}, min {low:.3f}, max {high:.3f}, "
        f"n={len(samples_s)}{suffix}"
    )
