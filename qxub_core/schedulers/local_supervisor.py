"""The local backend's supervisor: runs one job script the way a batch scheduler would.

Started detached by :class:`qxub_core.schedulers.local.LocalScheduler` (its own session, stdio
away from the terminal), it outlives the ``qxub`` that submitted it, so a ``--no-wait`` job is
still supervised. It:

- runs ``bash job.sh`` in its own process group with the job id in ``QXUB_LOCAL_JOB_ID``;
- enforces the walltime: records "walltime exceeded" in its state file first, then sends SIGTERM
  to the job's process group and SIGKILL after a short grace;
- cancels the job when it receives SIGTERM itself (a second SIGTERM kills at once);
- measures usage: wall time, CPU time of every process of the job (it is a child subreaper, so
  even orphaned grandchildren are reaped and counted) and peak memory;
- records running/ended, the exit status and the signal in ``local_state.json``, and the usage
  record in ``usage.json``.

Run as ``python -m qxub_core.schedulers.local_supervisor --job-dir DIR --job-id ID [...]``.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import json
import logging
import os
import resource
import select
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

from qxub_core.logs import configure_logging
from qxub_core.status import SCRIPT_FILE, write_atomically
from qxub_core.usage import Usage

# Named, not ``__name__``: run with ``python -m`` this module is ``__main__``.
logger = logging.getLogger("qxub.local_supervisor")

STATE_FILE = "local_state.json"
CANCEL_FILE = "local_cancel_requested"
JOB_ID_VARIABLE = "QXUB_LOCAL_JOB_ID"
LOG_LINE_FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"  # into scheduler.log

PR_SET_CHILD_SUBREAPER = 36
FIRST_SAMPLE_INTERVAL_S = 0.05
LAST_SAMPLE_INTERVAL_S = 1.0
LEFTOVER_GRACE_S = 2.0
MEMORY_NOTE = (
    "peak memory: the larger of the highest sum of resident memory (RSS) of the job's process "
    "group sampled from /proc (every 0.05 s at first, then up to every 1 s) and the largest "
    "peak RSS of any single process of the job"
)
CPU_NOTE = "CPU time: user + system time of every process of the job, reaped by the supervisor"


@dataclass
class SupervisorState:
    """What ``local_state.json`` says; ``LocalScheduler.query`` reads it back."""

    job_id: str
    phase: str = "starting"  # starting, running, ended
    supervisor_pid: int = 0
    job_pgid: int | None = None
    started_at: float | None = None
    ended_at: float | None = None
    exit_status: int | None = None
    signal: int | None = None
    walltime_exceeded: bool = False
    cancelled: bool = False
    never_started: bool = False
    walltime_s: int | None = None

    def save(self, job_dir: Path) -> bool:
        """Record the state; ``False`` (logged) when the job directory cannot take it.

        On a full file system a new file cannot be written, but the state file of the same few
        hundred bytes usually still fits in the block it already has: it is rewritten in place
        then, so the job's end is still recorded. A reader may catch that rewrite half done and
        ignore it, as it does a missing file.
        """
        text = json.dumps(asdict(self), sort_keys=True) + "\n"
        path = job_dir / STATE_FILE
        try:
            write_atomically(path, text)
            return True
        except OSError as exc:
            logger.warning("Job %s: cannot replace %s: %s", self.job_id, STATE_FILE, exc)
        try:
            _rewrite_in_place(path, text.encode())
            return True
        except OSError as exc:
            logger.error("Job %s: state not recorded: %s", self.job_id, exc)
            return False


def _rewrite_in_place(path: Path, data: bytes) -> None:
    """Overwrite an existing file from its start and cut it to ``data``'s length."""
    descriptor = os.open(path, os.O_WRONLY)
    try:
        os.pwrite(descriptor, data, 0)
        os.ftruncate(descriptor, len(data))
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def read_state(job_dir: Path) -> SupervisorState | None:
    """The supervisor's last recorded state, or ``None`` before it wrote any."""
    try:
        record: dict[str, Any] = json.loads((job_dir / STATE_FILE).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return None
    names = SupervisorState.__dataclass_fields__.keys()
    return SupervisorState(**{key: value for key, value in record.items() if key in names})


@dataclass(frozen=True)
class Requested:
    """What the job asked for, kept in its usage record beside what it used."""

    walltime_s: int | None
    cpus: int | None
    mem_bytes: int | None


class LocalSupervisor:
    """Runs one job script, watches it until every process of it is gone, records the end."""

    def __init__(
        self, job_dir: Path, job_id: str, requested: Requested, kill_grace_s: float
    ) -> None:
        self.job_dir = job_dir
        self.job_id = job_id
        self.requested = requested
        self.kill_grace_s = kill_grace_s
        self.state = SupervisorState(
            job_id=job_id, supervisor_pid=os.getpid(), walltime_s=requested.walltime_s
        )
        self.process: subprocess.Popen[bytes] | None = None
        self.cancel_signals = 0
        self.kill_at: float | None = None
        self.peak_rss_sum_bytes = 0

    def run(self) -> int:
        self._install_signal_handlers()
        _become_subreaper()
        self.state.save(self.job_dir)

        if self.cancel_signals or (self.job_dir / CANCEL_FILE).exists():
            return self._end_before_start()

        self.process = self._start_script()
        self.state.phase = "running"
        self.state.job_pgid = self.process.pid
        self.state.started_at = time.time()
        self.state.save(self.job_dir)
        logger.info("Job %s: started as process group %d", self.job_id, self.process.pid)
        if self.cancel_signals:
            self._terminate_group(signal.SIGTERM)

        wait_status, rusage = self._watch(self.process.pid)
        self._finish(wait_status, rusage)
        return 0

    def _install_signal_handlers(self) -> None:
        signal.signal(signal.SIGTERM, self._on_cancel)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)

    def _on_cancel(self, signum: int, frame: FrameType | None) -> None:
        self.cancel_signals += 1
        self.state.cancelled = True
        if self.process is None:
            return
        if self.cancel_signals == 1:
            self._terminate_group(signal.SIGTERM)
        else:
            self._terminate_group(signal.SIGKILL)

    def _end_before_start(self) -> int:
        self.state.phase = "ended"
        self.state.cancelled = True
        self.state.never_started = True
        self.state.ended_at = time.time()
        self.state.save(self.job_dir)
        logger.info("Job %s: cancelled before it started", self.job_id)
        return 0

    def _start_script(self) -> subprocess.Popen[bytes]:
        environment = dict(os.environ)
        environment[JOB_ID_VARIABLE] = self.job_id
        with open(self.job_dir / "scheduler.log", "ab") as log:
            return subprocess.Popen(
                ["bash", str(self.job_dir / SCRIPT_FILE)],
                cwd=self.job_dir,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                start_new_session=True,
            )

    def _watch(self, pid: int) -> tuple[int, resource.struct_rusage]:
        """Wait for the script, sampling memory and enforcing walltime and cancellation."""
        waiter = _ExitWaiter(pid)
        interval_s = FIRST_SAMPLE_INTERVAL_S
        try:
            while True:
                ended = waiter.wait(self._next_timeout_s(interval_s))
                if ended is not None:
                    return ended

                self._sample_memory()
                self._enforce_limits()
                interval_s = min(interval_s * 1.5, LAST_SAMPLE_INTERVAL_S)
        finally:
            waiter.close()

    def _next_timeout_s(self, interval_s: float) -> float:
        deadlines = [interval_s]
        now = time.time()
        if self.requested.walltime_s and not self.state.walltime_exceeded:
            assert self.state.started_at is not None
            deadlines.append(self.state.started_at + self.requested.walltime_s - now)
        if self.kill_at is not None:
            deadlines.append(self.kill_at - now)
        return max(0.0, min(deadlines))

    def _enforce_limits(self) -> None:
        now = time.time()
        if self._walltime_over(now):
            self.state.walltime_exceeded = True
            self.state.save(self.job_dir)
            logger.info("Job %s: walltime exceeded, terminating", self.job_id)
            self._terminate_group(signal.SIGTERM)
        if self.kill_at is not None and now >= self.kill_at:
            self._terminate_group(signal.SIGKILL)

    def _walltime_over(self, now: float) -> bool:
        if not self.requested.walltime_s or self.state.walltime_exceeded:
            return False
        assert self.state.started_at is not None
        return now >= self.state.started_at + self.requested.walltime_s

    def _terminate_group(self, signum: int) -> None:
        assert self.process is not None
        try:
            os.killpg(self.process.pid, signum)
        except ProcessLookupError:
            return
        if signum == signal.SIGTERM and self.kill_at is None:
            self.kill_at = time.time() + self.kill_grace_s
        if signum == signal.SIGKILL:
            self.kill_at = None

    def _sample_memory(self) -> None:
        assert self.process is not None
        rss_sum = group_rss_bytes(self.process.pid)
        self.peak_rss_sum_bytes = max(self.peak_rss_sum_bytes, rss_sum)

    def _finish(self, wait_status: int, rusage: resource.struct_rusage) -> None:
        assert self.process is not None
        self.state.ended_at = time.time()
        self._clear_leftovers(self.process.pid)

        self.process.returncode = os.waitstatus_to_exitcode(wait_status)
        self.state.phase = "ended"
        if os.WIFSIGNALED(wait_status):
            self.state.signal = os.WTERMSIG(wait_status)
        else:
            self.state.exit_status = os.waitstatus_to_exitcode(wait_status)
        self._record_usage(rusage)
        self.state.save(self.job_dir)
        logger.info(
            "Job %s: ended (status %s, signal %s)",
            self.job_id,
            self.state.exit_status,
            self.state.signal,
        )

    def _clear_leftovers(self, pgid: int) -> None:
        """A job is over when its script is: stray processes of its group are stopped too."""
        _reap_all_children()
        if not _group_exists(pgid):
            return

        logger.info("Job %s: stopping processes left in its group", self.job_id)
        _signal_group(pgid, signal.SIGTERM)
        deadline = time.time() + min(self.kill_grace_s, LEFTOVER_GRACE_S)
        while group_alive(pgid) and time.time() < deadline:
            _reap_all_children()
            time.sleep(0.05)
        _signal_group(pgid, signal.SIGKILL)
        while _group_exists(pgid) and time.time() < deadline + LEFTOVER_GRACE_S:
            _reap_all_children()
            time.sleep(0.01)

    def _record_usage(self, script_rusage: resource.struct_rusage) -> None:
        assert self.state.started_at is not None and self.state.ended_at is not None
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_time_s = children.ru_utime + children.ru_stime
        largest_process_bytes = max(children.ru_maxrss, script_rusage.ru_maxrss) * 1024

        usage = Usage(
            job_id=self.job_id,
            source="local-supervisor",
            walltime_used_s=round(self.state.ended_at - self.state.started_at, 3),
            cpu_time_s=round(cpu_time_s, 3),
            peak_mem_bytes=max(self.peak_rss_sum_bytes, largest_process_bytes),
            cpus=self.requested.cpus,
            walltime_requested_s=self.requested.walltime_s,
            mem_requested_bytes=self.requested.mem_bytes,
            extra={
                "peak_rss_sum_sampled_bytes": self.peak_rss_sum_bytes,
                "largest_process_peak_rss_bytes": largest_process_bytes,
            },
            notes=[CPU_NOTE, MEMORY_NOTE],
        )
        try:
            usage.save(self.job_dir)
        except OSError as exc:
            logger.warning("Job %s: usage record not written: %s", self.job_id, exc)


class _ExitWaiter:
    """Waits for one child with a timeout: a pidfd where the kernel has them, else polling."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.poller: select.poll | None = None
        self.pidfd: int | None = None
        try:
            self.pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            return
        self.poller = select.poll()
        self.poller.register(self.pidfd, select.POLLIN)

    def wait(self, timeout_s: float) -> tuple[int, resource.struct_rusage] | None:
        if self.poller is not None:
            self.poller.poll(timeout_s * 1000)
        else:
            time.sleep(min(timeout_s, 0.1))

        pid, wait_status, rusage = os.wait4(self.pid, os.WNOHANG)
        if pid == 0:
            return None
        return wait_status, rusage

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)


def group_rss_bytes(pgid: int) -> int:
    """The summed resident memory of every process in a process group, read from /proc."""
    page_bytes = os.sysconf("SC_PAGE_SIZE")
    total_pages = 0
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        fields = _stat_fields(entry.name)
        if fields is not None and int(fields[2]) == pgid:
            total_pages += int(fields[21])
    return total_pages * page_bytes


def group_alive(pgid: int) -> bool:
    """Whether any live (not zombie) process is left in a process group."""
    with os.scandir("/proc") as entries:
        for entry in entries:
            if not entry.name.isdigit():
                continue
            fields = _stat_fields(entry.name)
            if fields is not None and int(fields[2]) == pgid and fields[0] != "Z":
                return True
    return False


def _stat_fields(pid: str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state first), or ``None``."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read().decode(errors="replace")
    except OSError:
        return None
    return text[text.rfind(")") + 2 :].split()


def _group_exists(pgid: int) -> bool:
    """Whether any process, zombies included, is left in a process group: one system call."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _signal_group(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _reap_all_children() -> None:
    """Reap every exited child, including orphans handed to this subreaper."""
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _become_subreaper() -> None:
    """Adopt the job's orphaned descendants, so they are reaped here and their CPU counted."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
            logger.warning("cannot become a child subreaper: errno %d", ctypes.get_errno())
    except (OSError, AttributeError) as exc:
        logger.warning("cannot become a child subreaper: %s", exc)


def _parse_arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qxub-local-supervisor")
    parser.add_argument("--job-dir", type=Path, required=True)
    parser.add_argument("--job-id", required=True)
    parser.add_argument("--walltime-s", type=int, default=None)
    parser.add_argument("--cpus", type=int, default=None)
    parser.add_argument("--mem-bytes", type=int, default=None)
    parser.add_argument("--kill-grace-s", type=float, default=5.0)
    return parser.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _parse_arguments(sys.argv[1:] if argv is None else argv)
    configure_logging(default_level=logging.INFO, line_format=LOG_LINE_FORMAT)
    requested = Requested(arguments.walltime_s, arguments.cpus, arguments.mem_bytes)
    supervisor = LocalSupervisor(
        arguments.job_dir, arguments.job_id, requested, arguments.kill_grace_s
    )
    return supervisor.run()


if __name__ == "__main__":
    sys.exit(main())
