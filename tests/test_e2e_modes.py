"""End to end: what each mode prints, exactly, with stdout and stderr redirected."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import RunQxub, only_job_dir, wait_for

from qxub_core.schedulers.base import JobPhase, Scheduler

pytestmark = pytest.mark.timeout(120)
JOB = ["--", "bash", "-c", "echo to-out; echo to-err >&2; exit 5"]
JOB_ID_LINE = re.compile(rb"^\S+\n$")


def test_normal_mode_is_the_jobs_bytes_only(run_qxub: RunQxub) -> None:
    done = run_qxub(JOB)

    assert (done.returncode, done.stdout, done.stderr) == (5, b"to-out\n", b"to-err\n")


def test_terse_mode_is_the_job_id_alone(run_qxub: RunQxub, job_root: Path) -> None:
    done = run_qxub(["--terse", *JOB])

    job_dir = only_job_dir(job_root)
    job_id = done.stdout.decode().strip()
    assert done.returncode == 5
    assert JOB_ID_LINE.match(done.stdout) and done.stderr == b""
    assert (job_dir / f"final_exit_code_{job_id}").exists()
    assert (job_dir / "out").read_bytes() == b"to-out\n"
    assert (job_dir / "err").read_bytes() == b"to-err\n"


def test_quiet_mode_prints_nothing(run_qxub: RunQxub, job_root: Path) -> None:
    done = run_qxub(["--quiet", *JOB])

    assert (done.returncode, done.stdout, done.stderr) == (5, b"", b"")
    assert (only_job_dir(job_root) / "out").read_bytes() == b"to-out\n"


def test_no_wait_returns_at_once_and_the_job_carries_on(
    run_qxub: RunQxub, backend_scheduler: Scheduler, job_root: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    script = f"while [ ! -e {release} ]; do sleep 0.05; done; echo finished"

    done = run_qxub(["--no-wait", "--", "bash", "-c", script])

    job_id = done.stdout.decode().strip()
    assert done.returncode == 0
    assert JOB_ID_LINE.match(done.stdout) and done.stderr == b""
    assert backend_scheduler.query([job_id])[job_id].phase is not JobPhase.ENDED

    release.touch()
    job_dir = only_job_dir(job_root)
    wait_for(lambda: (job_dir / f"final_exit_code_{job_id}").exists(), what="the job to end")
    assert (job_dir / "out").read_bytes() == b"finished\n"
