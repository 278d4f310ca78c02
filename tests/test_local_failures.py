"""The local backend when things go wrong around the job: a full job root, a dead supervisor."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import only_job_dir, wait_for
from qxub_process import QXUB, isolated_environ, run_plain_qxub

from qxub_core.schedulers.local_supervisor import read_state

pytestmark = pytest.mark.timeout(90)
SMALL_FILE_SYSTEM = "size=64k"


@pytest.fixture
def small_root(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs to use as the job root, unmounted at the end."""
    root = tmp_path / "small"
    root.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", SMALL_FILE_SYSTEM, "tmpfs", str(root)],
        capture_output=True,
        timeout=30,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here: {mounted.stderr.decode().strip()}")
    yield root
    subprocess.run(["umount", "-l", str(root)], capture_output=True, timeout=30)


def _qxub_on(root: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[bytes]:
    environ = isolated_environ(tmp_path, QXUB_JOB_ROOT=str(root))
    return run_plain_qxub(["--scheduler", "local", *args], environ, tmp_path)


def test_a_job_that_fills_the_job_root_still_gives_its_exit_code(
    small_root: Path, tmp_path: Path
) -> None:
    done = _qxub_on(small_root, tmp_path, "--", "bash", "-c", "head -c 200000 /dev/zero; exit 3")

    assert done.returncode == 3
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and "is full" in lines[0], lines
    job_dir = only_job_dir(small_root)
    supervisor_log = (job_dir / "scheduler.log").read_text()
    assert "Traceback" not in supervisor_log
    assert "usage record not written" in supervisor_log
    assert [path.name for path in job_dir.iterdir() if path.name.startswith(".")] == []


def test_a_full_job_root_before_the_start_leaves_nothing_behind(
    small_root: Path, tmp_path: Path
) -> None:
    filler = small_root / "filler"
    with contextlib.suppress(OSError), open(filler, "wb") as handle:
        handle.write(bytes(1 << 20))

    done = _qxub_on(small_root, tmp_path, "--", "echo", "ran")

    assert (done.returncode, done.stdout) == (125, b"")
    assert done.stderr.decode().splitlines() == [
        f"qxub: cannot write a job's files in {small_root}: the file system is full"
        " (set job_root or QXUB_JOB_ROOT)"
    ]
    assert sorted(path.name for path in small_root.iterdir()) == ["filler"]


def test_a_supervisor_killed_while_running_is_noticed_before_the_fallback(
    tmp_path: Path,
) -> None:
    """With the fallback query ten minutes away, only the local backend's own, frequent query
    can end this run within the test's timeout."""
    environ = isolated_environ(tmp_path, QXUB_FALLBACK_INTERVAL_S="600")
    qxub = subprocess.Popen(
        [QXUB, "--scheduler", "local", "--", "sleep", "60"],
        env=environ,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    job_dir = _running_job_dir(tmp_path / "jobs")
    state = read_state(job_dir)
    assert state is not None and state.job_pgid is not None

    os.kill(state.supervisor_pid, signal.SIGKILL)
    try:
        stdout, stderr = qxub.communicate(timeout=60)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(state.job_pgid, signal.SIGKILL)

    assert (qxub.returncode, stdout) == (125, b"")
    assert b"its local supervisor is gone" in stderr


def _running_job_dir(job_root: Path) -> Path:
    def running() -> bool:
        if not job_root.exists() or not any(job_root.iterdir()):
            return False
        state = read_state(only_job_dir(job_root))
        return state is not None and state.phase == "running"

    wait_for(running, what="the local job to run")
    return only_job_dir(job_root)
