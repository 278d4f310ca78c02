"""A submission that queued nothing leaves no job directory behind, whichever way it came."""

from __future__ import annotations

from pathlib import Path

import pytest
from fake_slurm import install_fake_slurm
from qxub_process import isolated_environ, run_plain_qxub

from qxub_core.api import Session, SubmissionRefused
from qxub_core.plugins import Plugins
from qxub_core.schedulers.base import SchedulerError
from qxub_core.schedulers.slurm import SlurmScheduler
from qxub_core.spec import JobSpec, SpecError
from qxub_core.submission import forget_refused, prepare_job

pytestmark = pytest.mark.timeout(60)


def _job_dirs(job_root: Path) -> list[Path]:
    if not job_root.exists():
        return []
    return [path for path in job_root.iterdir() if not path.name.startswith(".")]


def test_a_missing_qsub_leaves_no_job_directory(tmp_path: Path) -> None:
    empty_path = tmp_path / "bin"
    empty_path.mkdir()
    environ = isolated_environ(tmp_path, PATH=str(empty_path))

    done = run_plain_qxub(["--scheduler", "pbs", "--", "true"], environ, tmp_path)

    assert done.returncode == 125
    assert done.stderr.decode().splitlines() == [
        "qxub: submission refused by pbs: cannot run qsub: No such file or directory"
    ]
    assert _job_dirs(tmp_path / "jobs") == []


SBATCH_WITHOUT_CONFIGURATION = """\
sbatch: error: resolve_ctls_from_dns_srv: res_nsearch error: Unknown host
sbatch: error: fetch_config: DNS SRV lookup failed
sbatch: error: _establish_config_source: failed to fetch config
sbatch: fatal: Could not establish a configuration source
"""


@pytest.mark.parametrize("log_level", ["warning", "info"])
def test_a_refusal_is_one_line_and_its_detail_goes_to_the_log(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, log_level: str
) -> None:
    slurm = install_fake_slurm(tmp_path, monkeypatch)
    slurm.answer("sbatch", stderr=SBATCH_WITHOUT_CONFIGURATION, returncode=1)
    environ = isolated_environ(
        tmp_path, QXUB_LOG_LEVEL=log_level, QXUB_FAKE_SLURM=str(slurm.state_dir)
    )

    done = run_plain_qxub(["--scheduler", "slurm", "--", "true"], environ, tmp_path)

    assert done.returncode == 125
    lines = done.stderr.decode().splitlines()
    assert [line for line in lines if line.startswith("qxub: ")] == [
        "qxub: submission refused by slurm: "
        "sbatch: fatal: Could not establish a configuration source"
    ]
    logged = "\n".join(line for line in lines if not line.startswith("qxub: "))
    if log_level == "warning":
        assert logged == ""
    else:
        assert "submission refused: sbatch --parsable " in logged
        assert "(exit 1)" in logged and "DNS SRV lookup failed" in logged


def test_the_api_leaves_no_job_directory_when_qsub_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    session = Session("pbs", options={"job_root": tmp_path / "jobs"})

    with pytest.raises(SubmissionRefused, match="cannot run qsub"):
        session.submit(JobSpec(command=("true",), workdir=tmp_path))

    assert _job_dirs(tmp_path / "jobs") == []


@pytest.mark.parametrize(
    ("error", "kept"),
    [
        (SchedulerError("qsub: Unknown queue", returncode=170), False),
        (SchedulerError("cannot run qsub: No such file or directory", ran=False), False),
        (SchedulerError("qsub did not answer within 60s", transient=False), True),
        (SchedulerError("sbatch answered without a job id: ''", returncode=0), True),
    ],
)
def test_a_job_directory_stays_only_when_the_job_may_be_queued(
    tmp_path: Path, error: SchedulerError, kept: bool
) -> None:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    (job_dir / "job.sh").write_text("true\n")

    forget_refused(job_dir, error)

    assert job_dir.exists() is kept


def test_a_spec_the_adapter_refuses_leaves_no_job_directory(tmp_path: Path) -> None:
    spec = JobSpec(command=("true",), workdir=tmp_path, storage="scratch/ab12")

    with pytest.raises(SpecError, match="--storage"):
        prepare_job(spec, SlurmScheduler(), tmp_path / "jobs", Plugins(entry_points=False))

    assert _job_dirs(tmp_path / "jobs") == []
