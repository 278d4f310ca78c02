"""The local backend: jobs run on this machine under a detached supervisor, no scheduler needed.

Each job gets its own supervisor process (``qxub_core.schedulers.local_supervisor``), which runs
the job script in its own process group, enforces the walltime, measures usage and writes its
state into the job directory. This adapter only starts supervisors and reads their state files,
so the job outlives a ``qxub --no-wait`` that submitted it, and any process that knows the job
id and the job root can follow or cancel it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import re
import secrets
import signal
import socket
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from qxub_core import exitcodes
from qxub_core.jobdir import file_system_full
from qxub_core.schedulers.base import JobPhase, JobState, Scheduler, SchedulerError
from qxub_core.schedulers.local_supervisor import (
    CANCEL_FILE,
    JOB_ID_VARIABLE,
    SupervisorState,
    read_state,
)
from qxub_core.spec import JobSpec, format_walltime
from qxub_core.status import write_atomically
from qxub_core.usage import Usage

logger = logging.getLogger(__name__)

SUPERVISOR_MODULE = "qxub_core.schedulers.local_supervisor"
SUPERVISOR_PID_FILE = "local_supervisor.pid"
INDEX_DIR = ".local-jobs"
DEFAULT_KILL_GRACE_S = 5.0
USAGE_WAIT_S = 30.0
USAGE_FIRST_POLL_S = 0.01  # the record usually lands within milliseconds of the job's end
USAGE_POLL_S = 0.1


def new_job_id() -> str:
    """``<host>.<unix time in ms>.<random>``: unique across concurrent submissions and hosts."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname().split(".")[0]) or "localhost"
    return f"{host}.{int(time.time() * 1000)}.{secrets.token_hex(4)}"


class LocalScheduler(Scheduler):
    """Runs jobs on this machine, each under its own detached supervisor process."""

    name = "local"
    job_id_variable = JOB_ID_VARIABLE
    directive_prefix = ""
    # A query reads the state file and checks the supervisor's pid: cheap enough that a
    # supervisor which dies is noticed within half a second rather than at the fallback.
    status_query_interval_s = 0.5

    def __init__(self, options: dict[str, object] | None = None) -> None:
        super().__init__(options)
        self._job_dirs: dict[str, Path] = {}
        self._supervisor_pids: dict[str, int] = {}

    @classmethod
    def detect(cls) -> bool:
        """The local machine is always there; ``auto`` picks it only when nothing else answers."""
        return True

    def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
        """No directives: the supervisor takes the limits on its command line."""
        return []

    def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
        command = [sys.executable, "-m", SUPERVISOR_MODULE, "--job-dir", str(job_dir)]
        resources = spec.resources
        if resources.walltime_s is not None:
            command += ["--walltime-s", str(resources.walltime_s)]
        if resources.cpus is not None:
            command += ["--cpus", str(resources.cpus)]
        if resources.mem_bytes is not None:
            command += ["--mem-bytes", str(resources.mem_bytes)]
        command += ["--kill-grace-s", str(self._kill_grace_s())]
        return command

    def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
        job_id = new_job_id()
        command = [*self.submit_command(script, job_dir, spec), "--job-id", job_id]

        pid = _spawn_detached(command, job_dir / "scheduler.log")
        write_atomically(job_dir / SUPERVISOR_PID_FILE, f"{pid}\n")
        self._job_dirs[job_id] = job_dir
        self._supervisor_pids[job_id] = pid
        self._index(job_id, job_dir)
        logger.debug("Job %s: supervisor %d started for %s", job_id, pid, job_dir)
        return job_id

    def cancel(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            job_dir = self._job_dir(job_id)
            if job_dir is None:
                logger.debug("Job %s: unknown to the local backend, nothing to cancel", job_id)
                continue
            self._cancel_one(job_id, job_dir)

    def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        self._reap_supervisors()
        states = {}
        for job_id in job_ids:
            job_dir = self._job_dir(job_id)
            if job_dir is None:
                states[job_id] = JobState(job_id, JobPhase.UNKNOWN, raw_state="unknown")
                continue
            states[job_id] = self._state_of(job_id, job_dir)
        return states

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        """The supervisor's usage record, once it has written it (it does so as the job ends)."""
        started = time.monotonic()
        while time.monotonic() < started + USAGE_WAIT_S:
            state = read_state(job_dir)
            if state is not None and state.phase == "ended":
                return None if state.never_started else Usage.load(job_dir)
            if not self._supervisor_alive(job_id, job_dir):
                return Usage.load(job_dir)
            soon = time.monotonic() < started + 1.0
            time.sleep(USAGE_FIRST_POLL_S if soon else USAGE_POLL_S)
        return None

    def _kill_grace_s(self) -> float:
        return float(self.options.get("local_kill_grace_s", DEFAULT_KILL_GRACE_S))

    def _cancel_one(self, job_id: str, job_dir: Path) -> None:
        """Leave the cancel mark for a supervisor not started yet, then signal the running one.

        Without its job directory (removed) there is no mark to leave, but the supervisor, found
        by the pid kept in this process, still stops the job.
        """
        try:
            write_atomically(job_dir / CANCEL_FILE, f"{time.time()}\n")
        except OSError as exc:
            logger.info("Job %s: no cancel mark left in %s: %s", job_id, job_dir, exc)
        state = read_state(job_dir)
        if state is not None and state.phase == "ended":
            return

        if self._supervisor_alive(job_id, job_dir):
            supervisor_pid = self._supervisor_pid(job_id, job_dir)
            assert supervisor_pid is not None
            logger.debug("Job %s: asking supervisor %d to cancel", job_id, supervisor_pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(supervisor_pid, signal.SIGTERM)
        elif state is not None and state.job_pgid is not None:
            logger.debug("Job %s: supervisor gone, killing group %d", job_id, state.job_pgid)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(state.job_pgid, signal.SIGKILL)

    def _state_of(self, job_id: str, job_dir: Path) -> JobState:
        state = read_state(job_dir)
        if state is not None and state.phase == "ended":
            return _with_full_disk_reason(ended_job_state(state), job_dir)

        if not self._supervisor_alive(job_id, job_dir):
            state = read_state(job_dir)
            if state is not None and state.phase == "ended":
                return _with_full_disk_reason(ended_job_state(state), job_dir)
            return lost_job_state(job_id, job_dir)

        if state is None or state.phase == "starting":
            return JobState(job_id, JobPhase.QUEUED, raw_state="starting")
        return JobState(job_id, JobPhase.RUNNING, raw_state="running")

    def _supervisor_pid(self, job_id: str, job_dir: Path) -> int | None:
        if job_id in self._supervisor_pids:
            return self._supervisor_pids[job_id]
        try:
            return int((job_dir / SUPERVISOR_PID_FILE).read_text().strip())
        except (OSError, ValueError):
            return None

    def _supervisor_alive(self, job_id: str, job_dir: Path) -> bool:
        """Whether this job's supervisor still runs (a reused pid is not mistaken for it)."""
        pid = self._supervisor_pid(job_id, job_dir)
        if pid is None:
            return False
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as handle:
                arguments = handle.read().split(b"\0")
            with open(f"/proc/{pid}/stat", "rb") as handle:
                stat = handle.read()
        except OSError:
            return False
        zombie = stat[stat.rfind(b")") + 2 :].startswith(b"Z")
        return not zombie and job_id.encode() in arguments

    def _job_dir(self, job_id: str) -> Path | None:
        if job_id in self._job_dirs:
            return self._job_dirs[job_id]
        job_root = self.options.get("job_root")
        if not job_root:
            return None
        link = Path(str(job_root)) / INDEX_DIR / job_id
        return link.resolve() if link.is_symlink() else None

    def _index(self, job_id: str, job_dir: Path) -> None:
        """A link from the job id to its directory, for other processes that know only the id."""
        index = job_dir.parent / INDEX_DIR
        try:
            index.mkdir(mode=0o700, exist_ok=True)
            (index / job_id).symlink_to(job_dir)
        except OSError as exc:
            logger.debug("Job %s: not indexed (%s)", job_id, exc)

    def _reap_supervisors(self) -> None:
        """Collect the exit of supervisors this process started, so none lingers as a zombie."""
        for pid in list(self._supervisor_pids.values()):
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)


def ended_job_state(state: SupervisorState) -> JobState:
    """How an ended local job maps into qxub's exit-code table."""
    if state.never_started:
        reason = "the job was cancelled before it started"
        return JobState(state.job_id, JobPhase.ENDED, "cancelled", exitcodes.NEVER_RAN, reason)
    if state.walltime_exceeded:
        return JobState(
            state.job_id,
            JobPhase.ENDED,
            "walltime",
            exitcodes.WALLTIME_EXCEEDED,
            walltime_reason(state.walltime_s),
        )
    if state.signal is not None:
        code = exitcodes.from_signal(state.signal)
        raw_state = f"signal {state.signal}"
        return JobState(state.job_id, JobPhase.ENDED, raw_state, code, signal_reason(state))
    return JobState(state.job_id, JobPhase.ENDED, "exited", state.exit_status)


def signal_reason(state: SupervisorState) -> str:
    """Why a job script died by a signal: a cancellation through qxub, or a kill from outside."""
    assert state.signal is not None
    name = exitcodes.signal_name(state.signal)
    if state.cancelled:
        return f"the job was cancelled ({name}, local backend)"
    return f"the job was killed by {name} (local backend)"


def lost_job_state(job_id: str, job_dir: Path) -> JobState:
    """A job whose supervisor is gone without recording its end."""
    if file_system_full(job_dir):
        reason = f"the file system of its job directory {job_dir} is full: its end went unrecorded"
    else:
        reason = "its local supervisor is gone (see scheduler.log in the job directory)"
    return JobState(job_id, JobPhase.ENDED, "lost", exitcodes.NEVER_RAN, reason)


def _with_full_disk_reason(ended: JobState, job_dir: Path) -> JobState:
    """An ended job on a full file system: its output and status files may be cut short."""
    if ended.reason is not None or not file_system_full(job_dir):
        return ended
    reason = f"the file system of its job directory {job_dir} is full: its output may be cut short"
    return dataclasses.replace(ended, reason=reason)


def walltime_reason(walltime_s: int | None) -> str:
    """The one-line reason qxub prints for a walltime kill."""
    if walltime_s is None:
        return "the job exceeded its walltime and was killed"
    return f"the job exceeded its walltime of {format_walltime(walltime_s)} and was killed"


def _spawn_detached(command: list[str], log_path: Path) -> int:
    """Start ``command`` in its own session with stdio away from this process; return its pid."""
    log_flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
    file_actions = [
        (os.POSIX_SPAWN_OPEN, 0, os.devnull, os.O_RDONLY, 0),
        (os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0),
        (os.POSIX_SPAWN_OPEN, 2, str(log_path), log_flags, 0o600),
    ]
    try:
        return os.posix_spawn(
            command[0], command, os.environ, file_actions=file_actions, setsid=True
        )
    except OSError as exc:
        raise SchedulerError(
            f"cannot start the local supervisor: {exc.strerror or exc}", command=command, ran=False
        ) from exc
