"""The run_job flow in-process: what it returns, what it prints, and what it does not wait for."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest
from conftest import only_job_dir

from qxub_core.environment import capture_environment
from qxub_core.job import JobRun, Mode, RunOptions, run_job
from qxub_core.schedulers.local import LocalScheduler
from qxub_core.spec import JobSpec
from qxub_core.usage import Usage

pytestmark = pytest.mark.timeout(60)


class HeldAccounting(LocalScheduler):
    """The local backend whose accounting step blocks until the test releases it."""

    def __init__(self, job_root: Path) -> None:
        super().__init__({"job_root": str(job_root)})
        self.asked = threading.Event()
        self.released = threading.Event()

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        self.asked.set()
        self.released.wait(30)
        return super().usage(job_id, job_dir, spec)


def options(job_root: Path, mode: Mode = Mode.NORMAL, **streams: io.BytesIO) -> RunOptions:
    return RunOptions(
        job_root=job_root,
        mode=mode,
        poll_interval_s=0.02,
        fallback_interval_s=1,
        grace_period_s=1,
        interactive=False,
        stdout=streams.get("stdout", io.BytesIO()),
        stderr=streams.get("stderr", io.BytesIO()),
    )


def spec_of(*command: str, workdir: Path) -> JobSpec:
    return JobSpec(command=command, environment=capture_environment(), workdir=workdir)


def test_prompt_returns_before_the_usage_record_is_collected(job_root: Path) -> None:
    scheduler = HeldAccounting(job_root)
    job_run = JobRun(spec_of("true", workdir=job_root.parent), scheduler, options(job_root))

    code = job_run.run()

    assert code == 0
    assert job_run.job is not None and job_run.job.usage_thread is not None
    assert scheduler.asked.wait(10)
    assert job_run.job.usage_thread.is_alive()
    assert job_run.job.usage is None

    scheduler.released.set()
    job_run.job.usage_thread.join(30)
    assert job_run.job.usage is not None
    assert Usage.load(job_run.job.job_dir) is not None


def test_streams_and_returns_the_jobs_code(job_root: Path) -> None:
    stdout, stderr = io.BytesIO(), io.BytesIO()
    spec = spec_of("bash", "-c", "printf 'a\\rb'; printf 'e' >&2; exit 7", workdir=job_root.parent)

    code = run_job(spec, LocalScheduler(), options(job_root, stdout=stdout, stderr=stderr))

    assert (code, stdout.getvalue(), stderr.getvalue()) == (7, b"a\rb", b"e")


def test_terse_prints_the_job_id_only(job_root: Path) -> None:
    stdout, stderr = io.BytesIO(), io.BytesIO()
    spec = spec_of("bash", "-c", "echo hidden; exit 4", workdir=job_root.parent)

    code = run_job(
        spec, LocalScheduler(), options(job_root, Mode.TERSE, stdout=stdout, stderr=stderr)
    )

    job_dir = only_job_dir(job_root)
    job_id = stdout.getvalue().decode().strip()
    assert code == 4
    assert (job_dir / f"final_exit_code_{job_id}").exists()
    assert stderr.getvalue() == b""
    assert (job_dir / "out").read_bytes() == b"hidden\n"


def test_unwritable_job_root_is_one_line_and_125(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    stderr = io.BytesIO()

    code = run_job(
        spec_of("true", workdir=tmp_path),
        LocalScheduler(),
        options(blocker / "jobs", stderr=stderr),
    )

    assert code == 125
    assert stderr.getvalue().startswith(b"qxub: ")
    assert stderr.getvalue().count(b"\n") == 1
