"""The emulated MoM: runs one job as the execution host would, and reports how it ended.

The job waits in the queue for the queue delay, then runs in its own session with PBS's
environment, starting in the user's home directory, its stdout and stderr spooled in the state
directory and delivered to their paths only when it ends. Usage is measured from the session's
processes in /proc and from the shell's rusage, never invented. A job past its walltime is sent
SIGTERM after the enforcement delay and SIGKILL after the kill delay, and ends with -29.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pbsemu_qsub import seconds_of, size_kb
from pbsemu_state import (
    all_jobs,
    home,
    load_job,
    locked,
    save_job,
    setting,
    user_name,
    user_shell,
)

EXIT_KILLED_WALLTIME = -29
SIGNAL_EXIT_BASE = 256
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
REPORT_EVERY_S = 1.0
DEFAULT_UMASK = 0o077


@dataclass
class Measure:
    """The largest figures seen for the job's session so far."""

    cput_s: float = 0.0
    mem_kb: int = 0
    vmem_kb: int = 0


@dataclass
class Outcome:
    exit_status: int
    walltime_s: int
    measure: Measure
    killed_for_walltime: bool


def main(sequence: int) -> int:
    state = home("pbs_mom")
    if not _wait_in_queue(state, sequence):
        return 0
    started = _start(state, sequence)
    if started is None:
        return 0
    process, record = started
    outcome = _supervise(state, sequence, process, record)
    _finish(state, sequence, outcome)
    return 0


def _wait_in_queue(state: Path, sequence: int) -> bool:
    record = load_job(state, sequence)
    if record is None:
        return False
    run = record["run"]
    reason = _never_runs(record)
    if reason is not None or run["held"]:
        _update(state, sequence, {"comment": reason} if reason else {})
        return False
    deadline = time.monotonic() + run["queue_delay_s"]
    while time.monotonic() < deadline:
        time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
    current = load_job(state, sequence)
    return current is not None and current["attrs"]["job_state"] == "Q"


def _never_runs(record: dict[str, Any]) -> str | None:
    run = record["run"]
    wanted = int(record["attrs"]["Resource_List"].get("ncpus", "1"))
    if wanted > run["node_ncpus"]:
        total = run["node_ncpus"]
        return (
            f"Can Never Run: Insufficient amount of resource: ncpus (R: {wanted} A: {total} "
            f"T: {total})"
        )
    if run["never_start"]:
        return "Not Running: Insufficient amount of resource: ncpus"
    return None


def _start(state: Path, sequence: int) -> tuple[subprocess.Popen[bytes], dict[str, Any]] | None:
    with locked(state):
        record = load_job(state, sequence)
        if record is None or record["attrs"]["job_state"] != "Q":
            return None
        process = _spawn(state, record)
        _mark_running(record, process.pid, _cpu_slot(state))
        save_job(state, record)
    return process, record


def _spawn(state: Path, record: dict[str, Any]) -> subprocess.Popen[bytes]:
    attributes, run = record["attrs"], record["run"]
    stdout_path, stderr_path = _output_files(state, record)
    umask = int(attributes.get("umask", "0"), 8) if "umask" in attributes else DEFAULT_UMASK
    join = attributes["Join_Path"] == "oe"
    with open(stdout_path, "ab") as stdout, open(os.devnull if join else stderr_path, "ab") as err:
        os.chmod(stdout_path, 0o600)
        return subprocess.Popen(
            _argv(state, record),
            executable=None if run["command"] else user_shell(),
            cwd=run["home"],
            env=_job_environment(state, record),
            stdin=subprocess.DEVNULL,
            stdout=stdout,
            stderr=stdout if join else err,
            start_new_session=True,
            umask=umask,
        )


def _argv(state: Path, record: dict[str, Any]) -> list[str]:
    command: list[str] = record["run"]["command"]
    if command:
        return command
    shell_name = os.path.basename(user_shell())
    return [f"-{shell_name}", str(state / "scripts" / f"{record['seq']}.SC")]


def _output_files(state: Path, record: dict[str, Any]) -> tuple[Path, Path]:
    """Where the running job writes: the spool, or the home directory for kept streams."""
    attributes, job_id = record["attrs"], record["id"]
    keep = attributes["Keep_Files"]
    sequence = job_id.partition(".")[0]
    name = attributes["Job_Name"]
    home_dir = Path(record["run"]["home"])
    stdout = home_dir / f"{name}.o{sequence}" if "o" in keep else state / "spool" / f"{job_id}.OU"
    stderr = home_dir / f"{name}.e{sequence}" if "e" in keep else state / "spool" / f"{job_id}.ER"
    if "d" in keep:
        stdout, stderr = (
            _final_path(attributes["Output_Path"]),
            _final_path(attributes["Error_Path"]),
        )
    return stdout, stderr


def _final_path(pbs_path: str) -> Path:
    return Path(pbs_path.partition(":")[2] if ":" in pbs_path.split("/")[0] else pbs_path)


def _job_environment(state: Path, record: dict[str, Any]) -> dict[str, str]:
    attributes, run = record["attrs"], record["run"]
    ncpus = attributes["Resource_List"].get("ncpus", "1")
    environment = {name: value for name, value in attributes["Variable_List"]}
    environment.setdefault("PATH", "/bin:/usr/bin")
    environment.update(
        HOME=run["home"],
        LOGNAME=user_name(),
        USER=user_name(),
        SHELL=user_shell(),
        ENVIRONMENT="BATCH",
        PBS_ENVIRONMENT="PBS_BATCH",
        PBS_JOBID=record["id"],
        PBS_JOBNAME=attributes["Job_Name"],
        PBS_QUEUE=attributes["queue"],
        PBS_JOBDIR=run["home"],
        PBS_NODEFILE=str(_node_file(state, record, int(ncpus))),
        PBS_TASKNUM="1",
        PBS_NODENUM="0",
        PBS_MOMPORT="15003",
        NCPUS=ncpus,
        OMP_NUM_THREADS=ncpus,
        TMPDIR=str(_job_tmpdir(state, record)),
    )
    return environment


def _node_file(state: Path, record: dict[str, Any], ncpus: int) -> Path:
    path = state / "aux" / record["id"]
    path.parent.mkdir(exist_ok=True)
    path.write_text(f"{setting('SERVER')}\n" * ncpus)
    return path


def _job_tmpdir(state: Path, record: dict[str, Any]) -> Path:
    path = state / "tmp" / record["id"]
    path.mkdir(parents=True, exist_ok=True)
    return path


def _cpu_slot(state: Path) -> int:
    running = [job for job in all_jobs(state) if job["attrs"]["job_state"] in ("R", "E")]
    return len(running)


def _mark_running(record: dict[str, Any], session_id: int, slot: int) -> None:
    attributes = record["attrs"]
    now = time.time()
    ncpus = attributes["Resource_List"].get("ncpus", "1")
    node = setting("SERVER")
    vnode = f"({node}:ncpus={ncpus}" + _vnode_mem(attributes["Resource_List"]) + ")"
    attributes.update(
        job_state="R",
        substate="42",
        stime=time.ctime(now),
        mtime=time.ctime(now),
        exec_host=f"{node}/{slot}" + (f"*{ncpus}" if ncpus != "1" else ""),
        exec_vnode=vnode,
        jobdir=record["run"]["home"],
        comment=f"Job run at {time.strftime('%a %b %d at %H:%M', time.localtime(now))} on {vnode}",
        run_count="1",
        resources_used=_used(Measure(), 0, int(ncpus)),
    )
    record["run"]["started_at"] = now
    record["run"]["session_id"] = session_id  # qstat shows it once the MoM first reports


def _vnode_mem(resources: dict[str, str]) -> str:
    return f":mem={size_kb(resources['mem'])}kb" if "mem" in resources else ""


def _used(measure: Measure, walltime_s: int, ncpus: int) -> dict[str, str]:
    cpupercent = int(100 * measure.cput_s / walltime_s) if walltime_s else 0
    return {
        "cpupercent": str(cpupercent),
        "cput": _clock(int(measure.cput_s)),
        "mem": f"{measure.mem_kb}kb",
        "ncpus": str(ncpus),
        "vmem": f"{measure.vmem_kb}kb",
        "walltime": _clock(walltime_s),
    }


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _supervise(
    state: Path, sequence: int, process: subprocess.Popen[bytes], record: dict[str, Any]
) -> Outcome:
    run = record["run"]
    started_at = run["started_at"]
    limit_s = _walltime_limit(record)
    measure = Measure()
    term_sent_at: float | None = None
    walltime_kill = False
    reported_at = time.monotonic()
    while True:
        pid, status, rusage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        _measure_session(process.pid, measure)
        elapsed_s = time.time() - started_at
        if (
            limit_s is not None
            and not walltime_kill
            and elapsed_s > limit_s + run["walltime_delay_s"]
        ):
            _walltime_message(state, record, int(elapsed_s), limit_s)
            signal_session(process.pid, signal.SIGTERM)
            walltime_kill, term_sent_at = True, time.time()
        if run["sigkill_after_s"] is not None and elapsed_s >= run["sigkill_after_s"]:
            signal_session(process.pid, signal.SIGKILL)
        term_sent_at = term_sent_at or _deleted_at(state, sequence)
        if term_sent_at is not None and time.time() - term_sent_at >= run["kill_delay_s"]:
            signal_session(process.pid, signal.SIGKILL)
        if time.monotonic() - reported_at >= REPORT_EVERY_S:
            _report_usage(state, sequence, measure, int(elapsed_s))
            reported_at = time.monotonic()
        time.sleep(run["poll_s"])
    signal_session(process.pid, signal.SIGKILL)  # nothing of the job outlives its shell
    measure.cput_s = max(measure.cput_s, rusage.ru_utime + rusage.ru_stime)
    exit_status = _exit_status(status, walltime_kill)
    return Outcome(exit_status, int(time.time() - started_at), measure, walltime_kill)


def _walltime_limit(record: dict[str, Any]) -> int | None:
    limit = record["attrs"]["Resource_List"].get("walltime")
    return None if limit is None else seconds_of(limit)


def _walltime_message(state: Path, record: dict[str, Any], used_s: int, limit_s: int) -> None:
    stdout_path, stderr_path = _output_files(state, record)
    target = stdout_path if record["attrs"]["Join_Path"] == "oe" else stderr_path
    with open(target, "a") as stream:
        stream.write(f"=>> PBS: job killed: walltime {used_s} exceeded limit {limit_s}\n")


def _deleted_at(state: Path, sequence: int) -> float | None:
    record = load_job(state, sequence)
    if record is None:
        return time.time()
    deleted_at: float | None = record["run"].get("deleted_at")
    return deleted_at


def _exit_status(status: int, walltime_kill: bool) -> int:
    if walltime_kill:
        return EXIT_KILLED_WALLTIME
    if os.WIFSIGNALED(status):
        return SIGNAL_EXIT_BASE + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def session_processes(session_id: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        fields = _stat_fields(int(entry))
        if fields is not None and int(fields[3]) == session_id:
            pids.append(int(entry))
    return pids


def signal_session(session_id: int, signal_number: int) -> None:
    """Signal every process of the job's session, as PBS does."""
    for pid in session_processes(session_id):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal_number)


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state is field 0)."""
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return text.rpartition(")")[2].split()


def _measure_session(session_id: int, measure: Measure) -> None:
    cput_ticks = rss_pages = vsize_bytes = 0
    for pid in session_processes(session_id):
        fields = _stat_fields(pid)
        if fields is None:
            continue
        cput_ticks += sum(int(value) for value in fields[11:15])
        vsize_bytes += int(fields[20])
        rss_pages += int(fields[21])
    measure.cput_s = max(measure.cput_s, cput_ticks / CLOCK_TICKS)
    measure.mem_kb = max(measure.mem_kb, rss_pages * PAGE_KB)
    measure.vmem_kb = max(measure.vmem_kb, vsize_bytes // 1024)


def _report_usage(state: Path, sequence: int, measure: Measure, walltime_s: int) -> None:
    with locked(state):
        record = load_job(state, sequence)
        if record is None:
            return
        ncpus = int(record["attrs"]["Resource_List"].get("ncpus", "1"))
        record["attrs"]["resources_used"] = _used(measure, walltime_s, ncpus)
        record["attrs"]["session_id"] = str(record["run"]["session_id"])
        save_job(state, record)


def _update(state: Path, sequence: int, changes: dict[str, Any]) -> None:
    with locked(state):
        record = load_job(state, sequence)
        if record is not None:
            record["attrs"].update(changes)
            save_job(state, record)


def _finish(state: Path, sequence: int, outcome: Outcome) -> None:
    _update(state, sequence, {"job_state": "E", "substate": "51"})
    record = load_job(state, sequence)
    assert record is not None
    _deliver(state, record)
    with locked(state):
        record = load_job(state, sequence)
        assert record is not None
        _mark_finished(record, outcome)
        save_job(state, record)
    shutil.rmtree(state / "tmp" / record["id"], ignore_errors=True)


def _mark_finished(record: dict[str, Any], outcome: Outcome) -> None:
    attributes = record["attrs"]
    deleted_by = record["run"].get("deleted_by")
    now = time.time()
    ncpus = int(attributes["Resource_List"].get("ncpus", "1"))
    substate, suffix = _ending(outcome, deleted_by)
    attributes.update(
        job_state="F",
        substate=substate,
        resources_used=_used(outcome.measure, outcome.walltime_s, ncpus),
        obittime=time.ctime(now),
        mtime=time.ctime(now),
        comment=attributes.get("comment", "") + suffix,
        Stageout_status="1",
        Exit_status=str(outcome.exit_status),
        history_timestamp=str(int(now)),
    )


def _ending(outcome: Outcome, deleted_by: str | None) -> tuple[str, str]:
    if outcome.killed_for_walltime:
        return "93", " and exceeded resource walltime"
    if deleted_by is not None:
        return "91", f" and terminated by {deleted_by}"
    if outcome.exit_status == 0:
        return "92", " and finished"
    return "93", " and failed"


def _deliver(state: Path, record: dict[str, Any]) -> None:
    """Stage the spooled streams out to their paths; what cannot be delivered is kept."""
    attributes = record["attrs"]
    keep = attributes["Keep_Files"]
    streams = [("o", "OU", attributes["Output_Path"])]
    if attributes["Join_Path"] != "oe":
        streams.append(("e", "ER", attributes["Error_Path"]))
    for letter, suffix, destination in streams:
        spooled = state / "spool" / f"{record['id']}.{suffix}"
        if letter in keep or "d" in keep or not spooled.exists():
            continue
        try:
            shutil.copyfile(spooled, _final_path(destination))
            os.chmod(_final_path(destination), 0o600)
            spooled.unlink()
        except OSError:
            shutil.move(str(spooled), state / "undelivered" / spooled.name)
    (state / "spool" / f"{record['id']}.ER").unlink(missing_ok=True)
