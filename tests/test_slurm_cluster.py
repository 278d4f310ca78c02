"""The Slurm adapter and the job flow in-process on the real test cluster (``slurm-up.sh``).

The ways a job ends that need the ``qxub`` command itself (Ctrl-C, scancel, SIGKILL, time limit)
are in ``test_slurm_e2e.py``.

Each test submits real jobs with ``sbatch``; they are marked ``cluster`` and skip when the
cluster is not running, or fail instead when ``QXUB_REQUIRE_CLUSTER=1``.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from conftest import require_or_skip
from fake_slurm import install_fake_slurm
from slurm_cluster import slurm_cluster_problem

from qxub_core.environment import capture_environment
from qxub_core.job import JobRun, Mode, RunOptions
from qxub_core.schedulers.base import JobPhase
from qxub_core.schedulers.slurm import SlurmScheduler
from qxub_core.spec import JobSpec, Resources
from qxub_core.usage import Usage

pytestmark = [pytest.mark.cluster, pytest.mark.timeout(120)]


@pytest.fixture(autouse=True)
def slurm_cluster() -> None:
    problem = slurm_cluster_problem()
    if problem is not None:
        require_or_skip(problem)


@pytest.fixture
def scheduler() -> SlurmScheduler:
    return SlurmScheduler()


class Run:
    """One in-process qxub run on the cluster, with what it printed."""

    def __init__(self, job_root: Path, spec: JobSpec, grace_period_s: float = 1.0) -> None:
        self.stdout = io.BytesIO()
        self.stderr = io.BytesIO()
        options = RunOptions(
            job_root=job_root,
            mode=Mode.NORMAL,
            poll_interval_s=0.05,
            fallback_interval_s=1,
            grace_period_s=grace_period_s,
            interactive=False,
            stdout=self.stdout,
            stderr=self.stderr,
        )
        self.job_run = JobRun(spec, SlurmScheduler(), options)
        self.exit_code: int | None = None

    def run(self) -> int:
        self.exit_code = self.job_run.run()
        return self.exit_code

    def usage(self) -> Usage:
        job = self.job_run.job
        assert job is not None and job.usage_thread is not None
        job.usage_thread.join(60)
        assert job.usage is not None
        return job.usage


def _spec(*command: str, workdir: Path, **fields: object) -> JobSpec:
    return JobSpec(
        command=command,
        environment=capture_environment(),
        workdir=workdir,
        **fields,  # type: ignore[arg-type]
    )


def test_detected_by_sbatch_version() -> None:
    assert SlurmScheduler.detect()


def test_output_streams_exactly_and_the_exit_code_is_the_job_s(job_root: Path) -> None:
    script = "printf 'out one\\n'; printf 'err one\\n' >&2; printf 'no newline'; exit 3"
    run = Run(job_root, _spec("bash", "-c", script, workdir=job_root.parent))

    assert run.run() == 3
    assert run.stdout.getvalue() == b"out one\nno newline"
    assert run.stderr.getvalue() == b"err one\n"


def test_the_job_sees_the_submitting_environment_and_workdir(
    job_root: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("QXUB_TEST_MARK", "from the prompt")
    workdir = tmp_path / "work dir"
    workdir.mkdir()
    run = Run(job_root, _spec("bash", "-c", 'echo "$QXUB_TEST_MARK|$PWD"', workdir=workdir))

    assert run.run() == 0
    assert run.stdout.getvalue() == f"from the prompt|{workdir}\n".encode()


def test_a_clean_environment_leaves_the_prompt_s_variables_behind(
    job_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QXUB_TEST_MARK", "from the prompt")
    spec = _spec(
        "bash", "-c", 'echo "[${QXUB_TEST_MARK:-}] $SLURM_JOB_ID"', workdir=job_root.parent
    )
    run = Run(job_root, JobSpec(**{**spec.__dict__, "environment": None, "clean_env": True}))

    assert run.run() == 0
    job_id = run.job_run.job.job_id  # type: ignore[union-attr]
    assert run.stdout.getvalue() == f"[] {job_id}\n".encode()


def test_usage_comes_from_sacct_after_the_prompt_is_back(job_root: Path) -> None:
    command = "python3 -c 'import time; b = b\"x\" * (150 << 20); time.sleep(7)'"
    spec = _spec(
        "bash",
        "-c",
        command,
        workdir=job_root.parent,
        resources=Resources(cpus=2, mem_bytes=1 << 30, walltime_s=600),
    )
    run = Run(job_root, spec)

    assert run.run() == 0
    usage = run.usage()

    assert usage.source == "slurm-sacct"
    assert usage.cpus == 2
    assert usage.mem_requested_bytes == 1 << 30
    assert usage.walltime_requested_s == 600
    assert usage.walltime_used_s is not None and usage.walltime_used_s >= 7
    assert usage.peak_mem_bytes is not None and usage.peak_mem_bytes >= 150 << 20
    assert (run.job_run.job.job_dir / "usage.json").exists()  # type: ignore[union-attr]


def test_a_refused_submission_says_sbatch_s_reason_and_exits_125(job_root: Path) -> None:
    run = Run(job_root, _spec("true", workdir=job_root.parent, queue="no-such-partition"))

    assert run.run() == 125
    assert b"Invalid partition name specified" in run.stderr.getvalue()
    assert run.stderr.getvalue().count(b"\n") == 1


def test_cancel_of_ended_and_unknown_jobs_is_success(job_root: Path) -> None:
    run = Run(job_root, _spec("true", workdir=job_root.parent))
    run.run()
    job = run.job_run.job
    assert job is not None

    SlurmScheduler().cancel([job.job_id, "999999"])


def test_without_accounting_states_come_from_the_controller(
    job_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run = Run(job_root, _spec("bash", "-c", "exit 4", workdir=job_root.parent))
    assert run.run() == 4
    job = run.job_run.job
    assert job is not None

    fake = install_fake_slurm(tmp_path, monkeypatch)
    for command in ("squeue", "scontrol"):
        (tmp_path / "fake-bin" / command).unlink()
    fake.answer("sacct", stderr="Slurm accounting storage is disabled\n", returncode=1)
    scheduler = SlurmScheduler()

    states = scheduler.query([job.job_id, "999999"])
    usage = scheduler.usage(job.job_id, job.job_dir, job.spec)

    assert (states[job.job_id].phase, states[job.job_id].exit_code) == (JobPhase.ENDED, 4)
    assert states["999999"].phase is JobPhase.UNKNOWN
    assert usage is not None and usage.source == "slurm-scontrol"
    assert usage.cpu_time_s is None and usage.walltime_used_s is not None
