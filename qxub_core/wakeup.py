"""Waking the monitor early when a status file appears, where the kernel can say so.

The monitor sleeps one poll interval between ticks. On Linux an inotify watch on each job
directory ends that sleep as soon as a file is created or renamed into it, which is how the job
script publishes its status files, so a job's end is noticed at once rather than up to a tick
later. Writes to ``out``/``err`` are not watched: streaming keeps its tick, and a chatty job does
not wake the monitor at every write. Where inotify is missing or does not see the writes (job
directories on NFS written from another host), the sleep simply runs its course: the tick stays
the guarantee, the watch is only a shortcut.
"""

from __future__ import annotations

import logging
import os
import select
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

IN_CREATE = 0x00000100
IN_MOVED_TO = 0x00000080
IN_NONBLOCK = 0o4000
IN_CLOEXEC = 0o2000000
READ_BYTES = 65536


class DirectoryWatch:
    """Sleeps until a file appears in one of the watched directories, or the timeout passes."""

    def __init__(self) -> None:
        self._libc: Any = None
        self._fd: int | None = None
        try:
            import ctypes

            self._libc = ctypes.CDLL(None, use_errno=True)
            fd = int(self._libc.inotify_init1(IN_NONBLOCK | IN_CLOEXEC))
        except (OSError, AttributeError) as exc:
            logger.debug("no inotify here (%s); the monitor sleeps whole ticks", exc)
            return
        self._fd = fd if fd >= 0 else None

    def watch(self, directory: Path) -> None:
        if self._fd is None:
            return
        mask = IN_CREATE | IN_MOVED_TO
        if self._libc.inotify_add_watch(self._fd, os.fsencode(directory), mask) < 0:
            logger.debug("cannot watch %s; its status files are seen at the next tick", directory)

    def sleep(self, timeout_s: float) -> None:
        """Return after ``timeout_s``, or earlier when a file appeared in a watched directory."""
        if self._fd is None:
            time.sleep(timeout_s)
            return

        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        if poller.poll(timeout_s * 1000):
            self._discard_events()

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _discard_events(self) -> None:
        assert self._fd is not None
        while True:
            try:
                if not os.read(self._fd, READ_BYTES):
                    return
            except BlockingIOError:
                return
