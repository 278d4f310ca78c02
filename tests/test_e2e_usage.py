"""End to end: the usage record a job leaves in its job directory, with measured figures."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from conftest import RunQxub, only_job_dir, wait_for

from qxub_core.usage import Usage

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.parametrize("backend", ["local"], indirect=True),
]

BURN_CPU_1S = (
    "import time\nstart = time.process_time()\nwhile time.process_time() - start < 1: pass"
)
TOUCH_200MB = (
    "block = bytearray(200 * 1024 * 1024)\nfor i in range(0, len(block), 4096): block[i] = 1"
)


def usage_of(job_root: Path) -> Usage:
    job_dir = only_job_dir(job_root)
    wait_for(lambda: (job_dir / "usage.json").exists(), what="usage.json")
    usage = Usage.load(job_dir)
    assert usage is not None
    return usage


def test_cpu_burnt_by_a_grandchild_is_counted(run_qxub: RunQxub, job_root: Path) -> None:
    script = f"{sys.executable} -c '{BURN_CPU_1S}' & wait"

    done = run_qxub(["--cpus", "1", "--runtime", "10m", "--", "bash", "-c", script])

    usage = usage_of(job_root)
    assert done.returncode == 0
    assert usage.cpu_time_s is not None and usage.cpu_time_s >= 0.9
    assert usage.walltime_used_s is not None and usage.walltime_used_s >= 1.0
    assert (usage.cpus, usage.walltime_requested_s) == (1, 600)
    assert usage.cpu_efficiency is not None and usage.cpu_efficiency > 0


def test_peak_memory_of_a_200mb_job(run_qxub: RunQxub, job_root: Path) -> None:
    done = run_qxub(["--mem", "1GB", "--", sys.executable, "-c", TOUCH_200MB])

    usage = usage_of(job_root)
    assert done.returncode == 0
    assert usage.peak_mem_bytes is not None and usage.peak_mem_bytes >= 200 * 1024 * 1024
    assert usage.mem_requested_bytes == 1024**3
    assert any("memory" in note for note in usage.notes)
