"""Following a job's ``out`` and ``err`` files: new bytes are copied, unchanged, to binary sinks.

A follower remembers how far it has read and copies whatever the job appended since, in
bounded chunks, so memory stays flat however much the job writes. Bytes are never decoded:
partial lines, carriage returns, binary data and invalid UTF-8 reach the sinks as written.

The follower keeps the file open once it has found it, so a job that deletes its own output file
loses nothing it writes afterwards through the descriptor it already had. A file that does not
exist yet is simply not read yet.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

CHUNK_BYTES = 1 << 20


class Sink:
    """A binary destination for a job's bytes: the user's stdout or stderr, or a copy file.

    A sink that breaks (a closed pipe, a full disk) stops receiving bytes; the job and the
    other sinks carry on. ``at_line_start`` tells whether the last byte written ended a line,
    so that qxub's own lines never land inside a partial line of the job's, and
    ``before_first_write`` runs once, before the first byte (the spinner is erased there).
    """

    def __init__(
        self,
        handle: BinaryIO,
        name: str,
        *,
        close_after: bool = False,
        before_first_write: Callable[[], None] | None = None,
    ) -> None:
        self.handle = handle
        self.name = name
        self.close_after = close_after
        self.before_first_write = before_first_write
        self.broken = False
        self.at_line_start = True

    def write(self, data: bytes) -> None:
        if self.broken or not data:
            return
        if self.before_first_write is not None:
            self.before_first_write()
            self.before_first_write = None

        try:
            self.handle.write(data)
            self.handle.flush()
        except (OSError, ValueError) as exc:
            self.broken = True
            logger.debug("%s: no longer written (%s)", self.name, exc)
            return
        self.at_line_start = data.endswith(b"\n")

    def close(self) -> None:
        if not self.close_after:
            return
        try:
            self.handle.close()
        except OSError as exc:
            logger.debug("%s: closing failed (%s)", self.name, exc)


class FileFollower:
    """Copies the bytes appended to one file to its sinks, remembering the offset."""

    def __init__(self, path: Path, sinks: list[Sink], chunk_bytes: int = CHUNK_BYTES) -> None:
        self.path = path
        self.sinks = sinks
        self.chunk_bytes = chunk_bytes
        self.offset = 0
        self.copied_bytes = 0
        self.closed = False
        self._fd: int | None = None
        self._inode: tuple[int, int] | None = None

    def copy_new_bytes(self, budget_bytes: int | None = None) -> int:
        """Copy what was appended since the last call (up to ``budget_bytes``); return the count.

        Called with no budget, it copies up to the end of the file as it stands: that is the
        drain after the job ended.
        """
        if self.closed or (self._fd is None and not self._open()):
            return 0

        copied = self._copy_until_end(budget_bytes)
        if copied == 0 and self._replaced():
            logger.debug("%s was replaced; following the new file", self.path)
            self._close_fd()
            if self._open():
                copied = self._copy_until_end(budget_bytes)
        return copied

    def close(self) -> None:
        """Stop following: nothing more is read, and sinks opened for this file are closed."""
        if self.closed:
            return
        self.closed = True
        self._close_fd()
        for sink in self.sinks:
            sink.close()

    def _copy_until_end(self, budget_bytes: int | None) -> int:
        assert self._fd is not None
        copied = 0
        while budget_bytes is None or copied < budget_bytes:
            chunk = os.pread(self._fd, self.chunk_bytes, self.offset)
            if not chunk:
                break

            self.offset += len(chunk)
            copied += len(chunk)
            for sink in self.sinks:
                sink.write(chunk)
        self.copied_bytes += copied
        return copied

    def _open(self) -> bool:
        try:
            self._fd = os.open(self.path, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except OSError as exc:
            logger.debug("%s: cannot open yet (%s)", self.path, exc)
            return False

        status = os.fstat(self._fd)
        self._inode = (status.st_dev, status.st_ino)
        self.offset = 0
        return True

    def _replaced(self) -> bool:
        """Whether the path now names another file than the one being read."""
        try:
            status = os.stat(self.path)
        except OSError:
            return False
        return (status.st_dev, status.st_ino) != self._inode

    def _close_fd(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
