"""Job directories: one private directory per submission, named before the job id exists.

A job directory is ``<job_root>/<YYYYmmdd-HHMMSS>-<name>-<random>``, mode 0700, and holds the
rendered script, the captured environment, the job's ``out`` and ``err`` files and its status
files (see :mod:`qxub_core.status`).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import time
from pathlib import Path

logger = logging.getLogger(__name__)

JOB_DIR_MODE = 0o700
_UNSAFE_NAME_CHARACTERS = re.compile(r"[^A-Za-z0-9._+-]+")
_NAME_LENGTH_LIMIT = 40
_ATTEMPTS = 5


class JobDirError(OSError):
    """The job root cannot hold a new job directory; the message is one line for the user."""


def create_job_dir(job_root: Path, name: str) -> Path:
    """Create a new private job directory under ``job_root`` (created too when missing)."""
    root = _prepare_root(job_root)

    for _ in range(_ATTEMPTS):
        job_dir = new_job_dir_path(root, name)
        try:
            job_dir.mkdir(mode=JOB_DIR_MODE)
        except FileExistsError:
            continue
        except OSError as exc:
            raise JobDirError(_describe(job_root, exc)) from exc
        os.chmod(job_dir, JOB_DIR_MODE)
        logger.debug("job directory %s", job_dir)
        return job_dir
    raise JobDirError(f"job root {job_root}: could not find a free job directory name")


def new_job_dir_path(job_root: Path, name: str) -> Path:
    """A fresh job directory name under ``job_root``, not created (``--dry`` shows it)."""
    stem = f"{time.strftime('%Y%m%d-%H%M%S')}-{job_dir_name_part(name)}"
    return job_root / f"{stem}-{secrets.token_hex(4)}"


def job_dir_name_part(name: str) -> str:
    """The job name as it may appear in a directory name: safe characters, bounded length."""
    cleaned = _UNSAFE_NAME_CHARACTERS.sub("_", name).strip("._") or "job"
    return cleaned[:_NAME_LENGTH_LIMIT]


def _prepare_root(job_root: Path) -> Path:
    root = job_root.expanduser()
    try:
        root.mkdir(mode=JOB_DIR_MODE, parents=True, exist_ok=True)
    except OSError as exc:
        raise JobDirError(_describe(job_root, exc)) from exc

    if not root.is_dir():
        raise JobDirError(f"job root {job_root} is not a directory")
    return root


def discard_unfinished_job_dir(job_dir: Path, exc: OSError) -> JobDirError:
    """Remove a job directory whose files could not all be written; the error to raise."""
    shutil.rmtree(job_dir, ignore_errors=True)
    return JobDirError(_describe(job_dir.parent, exc, "write a job's files"))


def file_system_full(path: Path) -> bool:
    """Whether the file system holding ``path`` has no block or no inode left to write."""
    try:
        usage = os.statvfs(path)
    except OSError:
        return False
    return usage.f_bavail == 0 or (usage.f_files > 0 and usage.f_favail == 0)


def _describe(job_root: Path, exc: OSError, action: str = "create a job directory") -> str:
    if exc.errno == errno.ENOSPC:
        why = "the file system is full"
    elif exc.errno == errno.EDQUOT:
        why = "the disk quota is exceeded"
    elif exc.errno in (errno.EROFS, errno.EACCES, errno.EPERM):
        why = "it is not writable"
    else:
        why = exc.strerror or str(exc)
    return f"cannot {action} in {job_root}: {why} (set job_root or QXUB_JOB_ROOT)"
