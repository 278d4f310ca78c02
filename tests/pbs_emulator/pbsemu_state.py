"""The PBS emulator's server state: settings, job records on disk, locking and fault switches.

All state lives in the directory named by ``PBS_EMULATOR_HOME``::

    lock               held (flock) while a command reads or changes job records
    seq                the next job sequence number
    jobs/<seq>.json    one record per job, replaced atomically
    scripts/<seq>.SC   the job script as it was when qsub read it
    spool/<id>.OU|.ER  a running job's stdout/stderr (delivered only when the job ends)
    undelivered/       output that could not be delivered to its path
    logs/<seq>.log     what the job's MoM did
    faults/<name>      fault switches (see FAULTS)

Settings come from ``PBS_EMULATOR_<NAME>`` environment variables (see SETTINGS); qsub copies the
timing settings into each job record, so a job keeps the settings it was submitted with.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import pwd
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

VERSION = "23.06.06"

# name -> (default, meaning)
SETTINGS: dict[str, tuple[str, str]] = {
    "SERVER": ("pbsemu", "server name: the suffix of job ids and the execution host's name"),
    "SUBMIT_HOST": ("localhost", "the host name qsub reports as the submission host"),
    "QUEUES": ("workq", "execution queues, comma separated"),
    "ROUTES": ("", "routing queues as route=execution pairs, comma separated"),
    "DEFAULT_QUEUE": ("workq", "the queue of a job submitted without -q"),
    "PROJECTS": ("", "if set, the only projects -P accepts (a site wrapper's check)"),
    "MAX_WALLTIME": ("", "if set (HH:MM:SS), the longest walltime the queues accept"),
    "REFUSE_ROOT": ("0", "1: refuse root as PBS does without acl_roots (Bad UID, 175)"),
    "NCPUS": (str(os.cpu_count() or 1), "CPUs on the one execution host"),
    "QUEUE_DELAY_S": ("0.2", "how long a job stays queued before it runs"),
    "KILL_DELAY_S": ("2", "SIGTERM to SIGKILL delay when a job is deleted or killed"),
    "WALLTIME_DELAY_S": ("1", "how long past its walltime a job runs before it is killed"),
    "MOM_POLL_S": ("0.25", "how often a job's processes are measured"),
    "HISTORY_S": ("86400", "how long finished jobs stay visible to qstat -x"),
    "USER_HOME": ("", "the user's home directory (default: qsub's $HOME, else the password file)"),
}

# Fault switches: files in faults/. Counters are decremented by each command they affect.
FAULTS = {
    "qstat_failures": "count: qstat cannot connect to the server (rc 255)",
    "qstat_empty": "count: qstat exits 0 and prints nothing",
    "qsub_failures": "count: qsub cannot connect to the server (rc 255)",
    "qsub_notices": "text: printed by qsub before the job id, as site wrappers do",
    "sigkill_after_s": "seconds: jobs submitted meanwhile are SIGKILLed after running this long",
    "never_start": "present: jobs submitted meanwhile never leave the queue",
}


class EmulatorError(Exception):
    """A command refuses: ``message`` goes to stderr and ``code`` is the exit status."""

    def __init__(self, message: str, code: int, stdout: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.stdout = stdout


def setting(name: str) -> str:
    return os.environ.get(f"PBS_EMULATOR_{name}", SETTINGS[name][0])


def setting_float(name: str) -> float:
    return float(setting(name))


def home(command: str) -> Path:
    """The state directory; without one there is no server to talk to."""
    value = os.environ.get("PBS_EMULATOR_HOME")
    if not value:
        raise EmulatorError(
            f"{command}: cannot connect to server {setting('SERVER')} (errno=15010)", 255
        )
    path = Path(value)
    if not path.is_dir():
        raise EmulatorError(
            f"{command}: cannot connect to server {setting('SERVER')} (errno=15010)", 255
        )
    for sub in ("jobs", "scripts", "spool", "undelivered", "logs", "faults"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(state: Path) -> Iterator[None]:
    with open(state / "lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def next_sequence(state: Path) -> int:
    """Take a job sequence number (call with the lock held)."""
    path = state / "seq"
    sequence = int(path.read_text()) if path.exists() else 0
    write_atomically(path, str(sequence + 1))
    return sequence


def write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    temporary.write_text(text)
    os.replace(temporary, path)


def job_path(state: Path, sequence: int) -> Path:
    return state / "jobs" / f"{sequence}.json"


def load_job(state: Path, sequence: int) -> dict[str, Any] | None:
    try:
        record: dict[str, Any] = json.loads(job_path(state, sequence).read_text())
    except FileNotFoundError:
        return None
    return record


def save_job(state: Path, record: dict[str, Any]) -> None:
    write_atomically(job_path(state, record["seq"]), json.dumps(record, indent=1))


def all_jobs(state: Path) -> list[dict[str, Any]]:
    records = []
    for path in (state / "jobs").glob("*.json"):
        record = load_job(state, int(path.stem))
        if record is not None:
            records.append(record)
    return sorted(records, key=lambda record: record["seq"])


def sequence_of(job_id: str) -> int | None:
    """The sequence number of ``123``, ``123.server`` or ``123.server.domain``."""
    head = job_id.partition(".")[0]
    return int(head) if head.isdigit() else None


def take_counter(state: Path, fault: str) -> bool:
    """Whether a counted fault fires now; each firing uses one (call with the lock held)."""
    path = state / "faults" / fault
    try:
        remaining = int(path.read_text().strip() or "0")
    except (FileNotFoundError, ValueError):
        return False
    if remaining <= 0:
        return False
    write_atomically(path, str(remaining - 1))
    return True


def fault_text(state: Path, fault: str) -> str | None:
    try:
        return (state / "faults" / fault).read_text()
    except FileNotFoundError:
        return None


def user_name() -> str:
    return pwd.getpwuid(os.getuid()).pw_name


def user_home() -> str:
    return setting("USER_HOME") or os.environ.get("HOME") or pwd.getpwuid(os.getuid()).pw_dir


def user_shell() -> str:
    shell = pwd.getpwuid(os.getuid()).pw_shell
    return shell if shell and os.path.exists(shell) else "/bin/sh"


def host_name() -> str:
    return socket.gethostname().split(".")[0]
