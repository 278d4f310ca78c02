"""Waking the monitor early when a status file appears, where the kernel can say so.

The monitor sleeps one poll interval between ticks. On Linux an inotify watch on each job
directory ends that sleep as soon as a file is created or renamed into it, which is how the job
script publishes its status files, so a job's end is noticed at once rather than up to a tick
later. The watch also says when a job directory is removed or moved away, so the monitor can
give up on that job at once. The kernel reports a directory's own deletion only once no process
holds it any more (a running job's processes start in it), so the deletion is seen from its
parent, which hears of it at once. Writes to ``out``/``err`` are not watched: streaming
keeps its tick, and a chatty job does not wake the monitor at every write. Where inotify is
missing or does not see the writes (job directories on NFS written from another host), the sleep
simply runs its course: the tick stays the guarantee, the watch is only a shortcut.
"""

from __future__ import annotations

import logging
import os
import select
import struct
import time
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)

IN_MOVED_FROM = 0x00000040
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_ISDIR = 0x40000000
FILE_APPEARED = IN_CREATE | IN_MOVED_TO  # watched in a job directory
ENTRY_GONE = IN_DELETE | IN_MOVED_FROM  # watched in its parent, for directories only
SELF_GONE = IN_DELETE_SELF | IN_MOVE_SELF  # watched on both
EVENT_HEADER = struct.Struct("=iIII")  # struct inotify_event: wd, mask, cookie, name length
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

    @property
    def available(self) -> bool:
        """Whether the kernel watches here; without, every sleep runs its whole course."""
        return self._fd is not None

    def watch(self, directory: Path) -> None:
        """Watch for files appearing in ``directory``, and for it, or its parent, going away."""
        if self._fd is None:
            return
        if not self._add(directory, FILE_APPEARED | SELF_GONE):
            logger.debug("cannot watch %s; its status files are seen at the next tick", directory)
        if not self._add(directory.parent, ENTRY_GONE | SELF_GONE):
            logger.debug("cannot watch %s; a removal is seen at the next check", directory.parent)

    def _add(self, directory: Path, mask: int) -> bool:
        return bool(self._libc.inotify_add_watch(self._fd, os.fsencode(directory), mask) >= 0)

    def sleep(self, timeout_s: float) -> bool:
        """Return after ``timeout_s``, or earlier when a file appeared in a watched directory.

        ``True`` when a watched directory itself was removed or moved away meanwhile.
        """
        if self._fd is None:
            time.sleep(timeout_s)
            return False

        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        if poller.poll(timeout_s * 1000):
            return self._read_events()
        return False

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _read_events(self) -> bool:
        """Take every pending event; whether one says a watched directory went away."""
        assert self._fd is not None
        gone = False
        while True:
            try:
                events = os.read(self._fd, READ_BYTES)
            except BlockingIOError:
                return gone
            if not events:
                return gone
            gone = gone or directory_gone(events)


def directory_gone(events: bytes) -> bool:
    """Whether a buffer of inotify events says a directory was removed or moved away."""
    offset = 0
    while offset + EVENT_HEADER.size <= len(events):
        _, mask, _, name_length = EVENT_HEADER.unpack_from(events, offset)
        if mask & SELF_GONE or (mask & ENTRY_GONE and mask & IN_ISDIR):
            return True
        offset += EVENT_HEADER.size + name_length
    return False
