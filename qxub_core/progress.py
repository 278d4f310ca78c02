"""qxub's own lines on an interactive terminal: progress lines, a spinner, the usage summary.

Only in normal mode and only when stderr is a terminal; otherwise nothing here writes at all, so
that redirected stderr holds exactly the job's bytes. Everything is drawn from the monitor's
thread between ticks, so qxub's lines and the job's bytes never interleave mid-write. Each of
qxub's lines starts on a fresh line: a line is added only while the job's output on the
terminal is at a line start, and the spinner is erased before the job's first byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import BinaryIO

from qxub_core.monitor import Coordinator
from qxub_core.stream import Sink
from qxub_core.usage import Usage

SPINNER_FRAMES = "|/-\\"
ERASE_LINE = b"\r\x1b[K"
GIB = 1024**3
MIB = 1024**2


class TerminalProgress:
    """Progress lines and a spinner on stderr, driven by the coordinator's events."""

    def __init__(self, stderr: BinaryIO, coordinator: Coordinator, sinks: Sequence[Sink]) -> None:
        self.stderr = stderr
        self.coordinator = coordinator
        self.sinks = list(sinks)
        self.job_id = ""
        self.frame = 0
        self.spinner_shown = False
        self.spinner_done = False
        self.start_reported = False

    def submitted(self, job_id: str, scheduler_name: str) -> None:
        self.job_id = job_id
        self.line(f"qxub: job {job_id} submitted to {scheduler_name}")

    def tick(self) -> None:
        """Called between monitor ticks: advance the spinner or end it, report the start."""
        if self.coordinator.quiet_moment and not self.spinner_done:
            self._draw_spinner()
            return

        self.stop_spinner()
        if self.coordinator.job_running.is_set() and not self.start_reported:
            self.start_reported = True
            quiet_so_far = not self.coordinator.output_started.is_set()
            if quiet_so_far and not self.coordinator.job_finished.is_set():
                self.line(f"qxub: job {self.job_id} running")

    def stop_spinner(self) -> None:
        """Erase the spinner for good; called before the job's first byte reaches the screen."""
        self.spinner_done = True
        self._erase_spinner()

    def usage_summary(self, usage: Usage) -> None:
        self.line(f"qxub: {summarise_usage(usage)}", fresh=True)

    def line(self, text: str, fresh: bool = False) -> None:
        """One line of qxub's own; ``fresh`` starts a new line if the job left a partial one."""
        self._erase_spinner()
        at_line_start = all(sink.at_line_start for sink in self.sinks)
        if not at_line_start and not fresh:
            return
        prefix = b"" if at_line_start else b"\n"
        self._write(prefix + text.encode(errors="replace") + b"\n")

    def _erase_spinner(self) -> None:
        if self.spinner_shown:
            self.spinner_shown = False
            self._write(ERASE_LINE)

    def _draw_spinner(self) -> None:
        symbol = SPINNER_FRAMES[self.frame % len(SPINNER_FRAMES)]
        self.frame += 1
        self.spinner_shown = True
        text = f"{symbol} qxub: waiting for job {self.job_id} to start"
        self._write(ERASE_LINE + text.encode(errors="replace"))

    def _write(self, data: bytes) -> None:
        try:
            self.stderr.write(data)
            self.stderr.flush()
        except (OSError, ValueError):
            self.spinner_done = True


def summarise_usage(usage: Usage) -> str:
    """``CPU 93%, memory 1.2 of 16 GB, walltime 0:12:00 of 2:00:00``, with what is known."""
    parts = []
    if usage.cpu_efficiency is not None:
        parts.append(f"CPU {usage.cpu_efficiency * 100:.0f}%")
    if usage.peak_mem_bytes is not None:
        parts.append(f"memory {_memory_text(usage.peak_mem_bytes, usage.mem_requested_bytes)}")
    if usage.walltime_used_s is not None:
        parts.append(f"walltime {_walltime_text(usage)}")
    return ", ".join(parts) if parts else "no usage figures"


def _memory_text(peak_bytes: int, requested_bytes: int | None) -> str:
    """``1.2 of 16 GB``, ``1.2 GB``; below a gigabyte in megabytes: ``300 MB of 1 GB``."""
    if peak_bytes < GIB:
        peak = f"{peak_bytes / MIB:.0f} MB"
    elif requested_bytes:
        peak = f"{peak_bytes / GIB:.1f}"
    else:
        peak = f"{peak_bytes / GIB:.1f} GB"
    if not requested_bytes:
        return peak
    return f"{peak} of {requested_bytes / GIB:g} GB"


def _walltime_text(usage: Usage) -> str:
    assert usage.walltime_used_s is not None
    used = _short_clock(round(usage.walltime_used_s))
    if usage.walltime_requested_s is None:
        return used
    return f"{used} of {_short_clock(usage.walltime_requested_s)}"


def _short_clock(seconds: int) -> str:
    """``0:00:12`` for twelve seconds, ``2:00:00`` for two hours: never ambiguous."""
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"
