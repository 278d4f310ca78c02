"""Job directories: private, uniquely named, and one clear error when the root cannot hold one."""

from __future__ import annotations

import errno
import re
import stat
from pathlib import Path

import pytest

from qxub_core.jobdir import JobDirError, create_job_dir, job_dir_name_part


def test_job_dir_is_private_and_named_by_time_name_and_random_part(tmp_path: Path) -> None:
    job_dir = create_job_dir(tmp_path / "jobs", "train")

    assert job_dir.parent == tmp_path / "jobs"
    assert re.fullmatch(r"\d{8}-\d{6}-train-[0-9a-f]{8}", job_dir.name)
    assert stat.S_IMODE(job_dir.stat().st_mode) == 0o700


def test_job_dirs_created_at_once_are_distinct(tmp_path: Path) -> None:
    job_dirs = {create_job_dir(tmp_path, "same") for _ in range(50)}

    assert len(job_dirs) == 50


def test_job_name_is_made_safe_for_a_directory_name() -> None:
    assert job_dir_name_part("my job/../x") == "my_job_.._x"
    assert job_dir_name_part("...") == "job"
    assert len(job_dir_name_part("n" * 300)) == 40


def test_root_that_is_a_file_is_one_clear_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")

    with pytest.raises(JobDirError) as raised:
        create_job_dir(blocker / "jobs", "x")

    message = str(raised.value)
    assert "\n" not in message
    assert str(blocker / "jobs") in message


@pytest.mark.parametrize(
    ("code", "words"),
    [
        (errno.ENOSPC, "the file system is full"),
        (errno.EROFS, "it is not writable"),
        (errno.EDQUOT, "the disk quota is exceeded"),
    ],
)
def test_full_or_read_only_root_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, code: int, words: str
) -> None:
    def refuse(
        self: Path, mode: int = 0o777, parents: bool = False, exist_ok: bool = False
    ) -> None:
        raise OSError(code, "refused")

    monkeypatch.setattr(Path, "mkdir", refuse)

    with pytest.raises(JobDirError, match=words):
        create_job_dir(tmp_path / "jobs", "x")
