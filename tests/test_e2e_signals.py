"""End to end: SIGINT and SIGTERM to qxub cancel the job, wait until it is gone, exit 130/143."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
from conftest import (
    PROCESS_TIMEOUT_S,
    QXUB,
    Backend,
    StartQxub,
    group_alive,
    only_job_dir,
    wait_for,
)

from qxub_core.schedulers.base import JobPhase, Scheduler
from qxub_core.schedulers.local_supervisor import read_state

pytestmark = pytest.mark.timeout(120)


def wait_until_running(job_root: Path) -> Path:
    wait_for(lambda: job_root.exists() and any(job_root.glob("*/job_started_*")), what="start")
    return only_job_dir(job_root)


def assert_job_gone(backend: Backend, scheduler: Scheduler, job_dir: Path) -> None:
    """The scheduler says the job ended; on the local backend its whole process group is gone."""
    job_id = next(job_dir.glob("job_started_*")).name.removeprefix("job_started_")
    assert scheduler.query([job_id])[job_id].phase in (JobPhase.ENDED, JobPhase.UNKNOWN)

    if backend.name == "local":
        state = read_state(job_dir)
        assert state is not None and state.job_pgid is not None
        assert not group_alive(state.job_pgid)


@pytest.mark.parametrize(
    ("signum", "code"),
    [(signal.SIGINT, 130), (signal.SIGTERM, 143), (signal.SIGHUP, 129)],
    ids=["INT", "TERM", "HUP"],
)
def test_signal_cancels_the_job(
    start_qxub: StartQxub,
    backend: Backend,
    backend_scheduler: Scheduler,
    job_root: Path,
    signum: int,
    code: int,
) -> None:
    process = start_qxub(["--", "bash", "-c", "echo started; sleep 300 & sleep 300; wait"])
    job_dir = wait_until_running(job_root)
    out = job_dir / "out"
    wait_for(lambda: out.exists() and out.read_bytes() == b"started\n", what="the job's output")

    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT_S)

    assert process.returncode == code
    assert stdout == b"started\n"
    # The job's own stderr may come first: a shell in the job can report its child killed by
    # the cancellation before qxub's line is written.
    qxub_lines = [line for line in stderr.splitlines() if line.startswith(b"qxub: ")]
    assert qxub_lines and b"cancelled" in qxub_lines[-1]
    assert_job_gone(backend, backend_scheduler, job_dir)


def test_ctrl_c_works_when_qxub_started_with_sigint_ignored(
    backend: Backend, backend_scheduler: Scheduler, job_root: Path, tmp_path: Path
) -> None:
    process = subprocess.Popen(
        [str(QXUB), "--scheduler", backend.name, "--", "sleep", "300"],
        env=backend.env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        job_dir = wait_until_running(job_root)
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=PROCESS_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert process.returncode == 130
    assert_job_gone(backend, backend_scheduler, job_dir)


def test_second_ctrl_c_during_cleanup_leaves_no_job_behind(
    start_qxub: StartQxub,
    backend: Backend,
    backend_scheduler: Scheduler,
    job_root: Path,
    tmp_path: Path,
) -> None:
    """The job is slow to stop (it ignores SIGTERM); the user presses Ctrl-C again meanwhile."""
    if backend.name == "slurm":
        pytest.skip(
            "Slurm kills the rest of a job as soon as its script exits: none is slow to stop"
        )
    trapped = tmp_path / "trapped"
    script = f"trap 'touch {trapped}' TERM; while :; do sleep 0.1; done"
    process = start_qxub(["--", "bash", "-c", script])
    job_dir = wait_until_running(job_root)

    process.send_signal(signal.SIGINT)
    wait_for(trapped.exists, what="the job to receive SIGTERM")
    process.send_signal(signal.SIGINT)
    process.communicate(timeout=PROCESS_TIMEOUT_S)

    assert process.returncode == 130
    assert_job_gone(backend, backend_scheduler, job_dir)


def test_hangup_ignored_as_under_nohup_leaves_the_job_running(
    backend: Backend, job_root: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    script = f"while [ ! -e {release} ]; do sleep 0.05; done; echo finished"
    process = subprocess.Popen(
        [str(QXUB), "--scheduler", backend.name, "--", "bash", "-c", script],
        env=backend.env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN),
    )
    try:
        wait_until_running(job_root)
        process.send_signal(signal.SIGHUP)
        release.touch()
        stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()

    assert (process.returncode, stdout, stderr) == (0, b"finished\n", b"")
