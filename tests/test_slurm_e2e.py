"""``qxub --scheduler slurm`` end to end: --dry, refusals, and on the real cluster the ways a
job can end that only a real Slurm shows (Ctrl-C, scancel from outside, SIGKILL, time limit).

The general end-to-end tests run on Slurm through the ``backend`` fixture; these are the ones
that are Slurm's own. Cluster tests skip without the cluster (fail with QXUB_REQUIRE_CLUSTER=1).
"""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import Backend, RunQxub, StartQxub, only_job_dir, wait_for
from golden_files import assert_matches_golden
from qxub_process import isolated_environ, run_plain_qxub

from qxub_core.schedulers.base import JobPhase
from qxub_core.schedulers.slurm import SlurmScheduler
from qxub_core.status import STARTED_PREFIX
from qxub_core.usage import Usage

JOB_DIR_PATTERN = re.compile(r"/\S*/jobs/\d{8}-\d{6}-([A-Za-z0-9._+-]+)-[0-9a-f]{8}")
on_slurm = pytest.mark.parametrize("backend", ["slurm"], indirect=True)


def _dry_run(tmp_path: Path, *options: str) -> str:
    args = ["--scheduler", "slurm", "--dry", "-N", "train", *options, "--", "python3", "t.py"]
    done = run_plain_qxub(args, isolated_environ(tmp_path), tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    text = JOB_DIR_PATTERN.sub(r"<JOB_ROOT>/<STAMP>-\1-<RANDOM>", done.stdout.decode())
    return text.replace(str(tmp_path), "<WORKDIR>")


@pytest.mark.timeout(60)
def test_dry_run_prints_the_sbatch_script_with_gpus_and_raw_options(tmp_path: Path) -> None:
    options = ["-P", "ab12", "-q", "gpu", "--cpus", "8", "--mem", "1.5GB", "--runtime", "36h"]
    options += ["--gpus", "2", "--disk", "100GB", "--scheduler-args", "--qos=long --exclusive"]

    text = _dry_run(tmp_path, *options)

    assert "#SBATCH --gpus=2\n" in text
    assert text.endswith("# sbatch --parsable <JOB_ROOT>/<STAMP>-train-<RANDOM>/job.sh\n")
    assert_matches_golden("dry-slurm.txt", text)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["-q", "gpu", "--scheduler-args", "-p debug"], ["'-p debug'", "--queue"]),
        (["--gpus", "1", "--scheduler-args", "--gres=gpu:1"], ["--gres=gpu:1", "--gpus"]),
        (["--scheduler-args", "--export=ALL"], ["--export=ALL", "qxub"]),
        (["-l", "place=excl"], ["-l/--resources", "PBS"]),
    ],
)
def test_refused_with_exit_2_naming_both_before_anything_is_submitted(
    tmp_path: Path, options: list[str], words: list[str]
) -> None:
    done = run_plain_qxub(
        ["--scheduler", "slurm", *options, "--", "true"], isolated_environ(tmp_path), tmp_path
    )

    assert done.returncode == 2
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("qxub: "), lines
    assert all(word in lines[0] for word in words), lines[0]
    assert not (tmp_path / "jobs").exists()


def _job_id_once_started(job_root: Path) -> str:
    wait_for(lambda: job_root.exists() and any(job_root.iterdir()), 60, "the job directory")
    job_dir = only_job_dir(job_root)
    wait_for(lambda: any(job_dir.glob(f"{STARTED_PREFIX}*")), 60, "the job's start")
    return next(job_dir.glob(f"{STARTED_PREFIX}*")).name.removeprefix(STARTED_PREFIX)


def _phase(job_id: str) -> JobPhase:
    return SlurmScheduler().query([job_id])[job_id].phase


@on_slurm
@pytest.mark.timeout(120)
def test_ctrl_c_cancels_the_job_and_exits_130_once_it_is_gone(
    backend: Backend, start_qxub: StartQxub, job_root: Path
) -> None:
    qxub = start_qxub(["--", "bash", "-c", "echo started; sleep 300"])
    job_id = _job_id_once_started(job_root)

    qxub.send_signal(signal.SIGINT)
    stdout, stderr = qxub.communicate(timeout=90)

    assert qxub.returncode == 130
    assert stdout == b"started\n"
    assert f"job {job_id} cancelled".encode() in stderr
    assert _phase(job_id) is JobPhase.ENDED


@on_slurm
@pytest.mark.timeout(120)
def test_a_job_cancelled_from_outside_with_scancel_is_143(
    backend: Backend, start_qxub: StartQxub, job_root: Path
) -> None:
    qxub = start_qxub(["--", "sleep", "300"])
    job_id = _job_id_once_started(job_root)

    subprocess.run(["scancel", job_id], check=True, timeout=30)
    _, stderr = qxub.communicate(timeout=90)

    assert qxub.returncode == 143
    assert stderr.decode().count("\n") == 1
    assert "scancel" in stderr.decode()


@on_slurm
@pytest.mark.timeout(120)
def test_a_job_script_killed_by_sigkill_ends_through_the_fallback_with_137(
    backend: Backend, start_qxub: StartQxub, job_root: Path
) -> None:
    # The command kills the job script itself: no final status file is ever written.
    qxub = start_qxub(["--", "bash", "-c", "echo before; kill -KILL $PPID; sleep 60"])
    stdout, stderr = qxub.communicate(timeout=90)

    assert qxub.returncode == 137, stderr
    assert stdout == b"before\n"
    assert not list(only_job_dir(job_root).glob("final_exit_code_*"))


@on_slurm
@pytest.mark.timeout(150)
def test_the_one_job_over_its_time_limit_is_124(
    backend: Backend, start_qxub: StartQxub, job_root: Path
) -> None:
    # Slurm limits are whole minutes, enforced every 30 s: this is the suite's one such job.
    qxub = start_qxub(
        ["--runtime", "1m", "--", "bash", "-c", "echo working; sleep 600"],
        extra_env={"QXUB_GRACE_PERIOD_S": "10"},
    )
    stdout, stderr = qxub.communicate(timeout=140)

    assert qxub.returncode == 124, stderr
    assert stdout == b"working\n"
    assert b"time limit" in stderr


@on_slurm
@pytest.mark.timeout(120)
def test_a_job_root_holding_percent_signs_is_taken_as_written(
    backend: Backend, run_qxub: RunQxub, tmp_path: Path
) -> None:
    # Slurm replaces %j and the like in --output; the job's directory must be found as named.
    job_root = tmp_path / "100%j %% done"

    done = run_qxub(["--", "echo", "hello"], extra_env={"QXUB_JOB_ROOT": str(job_root)})

    assert (done.returncode, done.stdout) == (0, b"hello\n"), done.stderr
    assert (only_job_dir(job_root) / "scheduler.log").exists()


@on_slurm
@pytest.mark.cluster
@pytest.mark.timeout(150)
def test_the_usage_record_appears_after_qxub_has_returned(
    backend: Backend, run_qxub: RunQxub, job_root: Path
) -> None:
    """sacct completes its record seconds after the job's end: a detached process waits for it."""
    done = run_qxub(["--", "true"])

    assert done.returncode == 0, done.stderr
    assert (done.stdout, done.stderr) == (b"", b"")
    job_dir = only_job_dir(job_root)
    wait_for(lambda: (job_dir / "usage.json").exists(), 120, "usage.json")
    usage = Usage.load(job_dir)
    job_id = next(job_dir.glob(f"{STARTED_PREFIX}*")).name.removeprefix(STARTED_PREFIX)
    assert usage is not None
    assert (usage.job_id, usage.source) == (job_id, "slurm-sacct")
    assert usage.extra["state"] == "COMPLETED"
