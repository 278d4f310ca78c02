"""The directory watch that wakes the monitor: files appearing, job directories going away."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from qxub_core.wakeup import DirectoryWatch

pytestmark = pytest.mark.timeout(30)
LONG_SLEEP_S = 20.0  # never waited out: each sleep here should end at once


@pytest.fixture
def watch() -> Iterator[DirectoryWatch]:
    watch = DirectoryWatch()
    if not watch.available:
        pytest.skip("no inotify on this machine")
    yield watch
    watch.close()


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    job_dir = tmp_path / "jobs" / "job-1"
    job_dir.mkdir(parents=True)
    return job_dir


def test_a_file_appearing_wakes_but_is_no_removal(watch: DirectoryWatch, job_dir: Path) -> None:
    watch.watch(job_dir)
    (job_dir / "final_exit_code_1").write_text("0\n")

    assert watch.sleep(LONG_SLEEP_S) is False


def test_a_removed_directory_is_reported_while_a_process_still_works_in_it(
    watch: DirectoryWatch, job_dir: Path
) -> None:
    """The running job's processes hold the directory: its own deletion event would wait for
    them, so the watch has to hear of the removal from the parent."""
    watch.watch(job_dir)
    holder = subprocess.Popen(["sleep", "30"], cwd=job_dir)
    try:
        subprocess.run(["rm", "-rf", str(job_dir)], check=True, timeout=10)

        assert watch.sleep(LONG_SLEEP_S) is True
    finally:
        holder.kill()
        holder.wait(timeout=10)


def test_a_directory_moved_away_is_reported(watch: DirectoryWatch, job_dir: Path) -> None:
    watch.watch(job_dir)
    job_dir.rename(job_dir.parent / "moved")

    assert watch.sleep(LONG_SLEEP_S) is True


def test_another_file_removed_beside_the_job_directory_is_no_removal(
    watch: DirectoryWatch, job_dir: Path
) -> None:
    beside = job_dir.parent / "notes.txt"
    beside.write_text("x")
    watch.watch(job_dir)
    beside.unlink()
    (job_dir / "job_started_1").write_text("")

    assert watch.sleep(LONG_SLEEP_S) is False
