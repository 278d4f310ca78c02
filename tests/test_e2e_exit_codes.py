"""End to end: qxub's exit code is the job's, or the table's code with a one-line reason."""

from __future__ import annotations

import json
import os
import shutil
import signal
from pathlib import Path

import pytest
from conftest import (
    Backend,
    RunQxub,
    StartQxub,
    group_alive,
    only_job_dir,
    skip_where_walltime_is_minutes,
    wait_for,
)

from qxub_core.schedulers.base import JobPhase, Scheduler
from qxub_core.schedulers.local_supervisor import read_state

pytestmark = pytest.mark.timeout(120)


@pytest.mark.parametrize("code", [0, 1, 3, 255])
def test_the_jobs_own_exit_code(run_qxub: RunQxub, code: int) -> None:
    done = run_qxub(["--", "bash", "-c", f"exit {code}"])

    assert (done.returncode, done.stdout, done.stderr) == (code, b"", b"")


@pytest.mark.parametrize(("signal_name", "code"), [("KILL", 137), ("TERM", 143), ("SEGV", 139)])
def test_command_killed_by_a_signal(run_qxub: RunQxub, signal_name: str, code: int) -> None:
    done = run_qxub(["--", "bash", "-c", f"echo before; kill -{signal_name} $$"])

    assert (done.returncode, done.stdout, done.stderr) == (code, b"before\n", b"")


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_whole_job_sigkilled_is_found_through_the_scheduler(
    start_qxub: StartQxub, job_root: Path
) -> None:
    """No final file at all: the fallback query and the grace period give 137, with a reason."""
    process = start_qxub(["--", "sleep", "300"])
    wait_for(lambda: job_root.exists() and any(job_root.glob("*/local_state.json")))
    job_dir = only_job_dir(job_root)
    wait_for(lambda: json.loads((job_dir / "local_state.json").read_text())["job_pgid"])

    os.killpg(json.loads((job_dir / "local_state.json").read_text())["job_pgid"], signal.SIGKILL)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 137
    assert not list(job_dir.glob("final_exit_code_*"))
    state = read_state(job_dir)
    assert state is not None
    assert stderr.decode().splitlines() == [
        f"qxub: job {state.job_id}: the job was killed by SIGKILL (local backend)"
    ]


def test_a_removed_job_directory_cancels_the_job_at_once_with_a_reason(
    start_qxub: StartQxub, backend: Backend, backend_scheduler: Scheduler, job_root: Path
) -> None:
    """With the fallback query ten minutes away, only the directory watch can end this run
    within the test's timeout (the local backend's own frequent query would too)."""
    process = start_qxub(
        ["--", "bash", "-c", "echo started; sleep 300"],
        extra_env={"QXUB_FALLBACK_INTERVAL_S": "600"},
    )
    assert process.stdout is not None
    assert process.stdout.read(8) == b"started\n"
    job_dir = only_job_dir(job_root)
    job_id = next(job_dir.glob("job_started_*")).name.removeprefix("job_started_")
    local_state = read_state(job_dir)

    shutil.rmtree(job_dir)
    stdout, stderr = process.communicate(timeout=60)

    assert (process.returncode, stdout) == (125, b"")
    assert stderr.decode().splitlines() == [
        f"qxub: job {job_id}: its job directory {job_dir} was removed; "
        "qxub cancelled the job, as it can no longer follow it"
    ]
    if local_state is not None and local_state.job_pgid is not None:
        wait_for(lambda: not group_alive(local_state.job_pgid), what="the local job's end")
    else:
        wait_for(lambda: _ended(backend_scheduler, job_id), what=f"{backend.name}'s cancel")


def _ended(scheduler: Scheduler, job_id: str) -> bool:
    phase = scheduler.query([job_id])[job_id].phase
    return phase in (JobPhase.ENDED, JobPhase.UNKNOWN)


def test_walltime_exceeded_is_124_with_a_reason(run_qxub: RunQxub, backend: Backend) -> None:
    skip_where_walltime_is_minutes(backend)
    done = run_qxub(["--runtime", "2s", "--", "bash", "-c", "echo started; sleep 60"])

    assert done.returncode == 124
    assert done.stdout == b"started\n"
    assert done.stderr.count(b"\n") == 1
    assert b"walltime" in done.stderr and done.stderr.startswith(b"qxub: ")


def test_walltime_reason_is_silent_in_quiet_mode(run_qxub: RunQxub, backend: Backend) -> None:
    skip_where_walltime_is_minutes(backend)
    done = run_qxub(["--quiet", "--runtime", "1s", "--", "sleep", "60"])

    assert (done.returncode, done.stdout, done.stderr) == (124, b"", b"")


def test_unwritable_job_root_is_one_clear_error(run_qxub: RunQxub, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")

    done = run_qxub(["--", "true"], extra_env={"QXUB_JOB_ROOT": str(blocker / "jobs")})

    assert done.returncode != 0
    assert done.stdout == b""
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr
    assert str(blocker).encode() in done.stderr


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_read_only_job_root_is_one_clear_error(run_qxub: RunQxub, tmp_path: Path) -> None:
    root = tmp_path / "read-only"
    root.mkdir(mode=0o500)

    done = run_qxub(["--", "true"], extra_env={"QXUB_JOB_ROOT": str(root)})

    assert done.returncode != 0
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr


def test_full_job_root_is_one_clear_error(run_qxub: RunQxub, backend: Backend) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full on this machine")

    done = run_qxub(["--", "true"], extra_env={"QXUB_JOB_ROOT": "/dev/full/jobs"})

    assert done.returncode != 0
    assert done.stderr.count(b"\n") == 1 and b"Traceback" not in done.stderr


@pytest.mark.parametrize("backend", ["local"], indirect=True)
def test_nothing_of_the_job_outlives_it(run_qxub: RunQxub, job_root: Path) -> None:
    """A background process the job left behind is stopped, and the supervisor exits too."""
    done = run_qxub(["--", "bash", "-c", "sleep 300 & echo done"])

    job_dir = only_job_dir(job_root)
    assert (done.returncode, done.stdout) == (0, b"done\n")
    wait_for(lambda: read_state(job_dir).phase == "ended", what="the supervisor's record")
    state = read_state(job_dir)
    assert not group_alive(state.job_pgid)
    wait_for(lambda: not _running(state.supervisor_pid), what="the supervisor to exit")


def _running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting to be reaped is not)."""
    try:
        return bool(Path(f"/proc/{pid}/cmdline").read_bytes())
    except OSError:
        return False
