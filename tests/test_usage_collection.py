"""The detached usage collector, run as its own process against fake Slurm commands on PATH."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from conftest import wait_for
from fake_slurm import FakeSlurm, install_fake_slurm
from slurm_reference import recorded

from qxub_core.schedulers.local import LocalScheduler
from qxub_core.schedulers.pbs import PbsScheduler
from qxub_core.schedulers.slurm import SlurmScheduler
from qxub_core.spec import JobSpec
from qxub_core.usage import Usage
from qxub_core.usage_collection import UsageCollection, start_detached_collection

pytestmark = pytest.mark.timeout(60)

SPEC = JobSpec(command=("python3", "train.py"), workdir=Path("/home/user/project"))


@pytest.fixture
def slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSlurm:
    return install_fake_slurm(tmp_path, monkeypatch)


@pytest.fixture
def job_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "jobs" / "20261204-163000-train-1a2b3c4d"
    directory.mkdir(parents=True)
    return directory


def _collection(job_dir: Path, give_up_s: int = 60) -> UsageCollection:
    collection = UsageCollection.of(SlurmScheduler({"queue": "gpu"}), "5", job_dir, SPEC)
    return replace(collection, give_up_s=give_up_s)


def _run_collector(collection: UsageCollection) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "qxub_core.usage_collection", collection.to_argument()],
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )


def test_only_slurm_asks_for_a_detached_collection() -> None:
    assert SlurmScheduler.usage_collected_detached
    assert not LocalScheduler.usage_collected_detached
    assert not PbsScheduler.usage_collected_detached


def test_the_argument_carries_the_adapter_and_the_job() -> None:
    collection = UsageCollection.of(SlurmScheduler({"queue": "gpu"}), "5", Path("/j"), SPEC)

    again = UsageCollection.from_argument(collection.to_argument())

    assert again == collection
    assert again.scheduler_class == "qxub_core.schedulers.slurm:SlurmScheduler"


def test_the_collector_writes_sacct_record(slurm: FakeSlurm, job_dir: Path) -> None:
    slurm.answer("sacct", stdout=recorded("usage", "sacct-usage", "5"))

    done = _run_collector(_collection(job_dir))

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    usage = Usage.load(job_dir)
    assert usage is not None
    assert (usage.job_id, usage.source, usage.cpus) == ("5", "slurm-sacct", 2)
    assert slurm.calls[0].startswith("sacct --noheader --parsable2 --jobs=5 ")
    assert [path.name for path in job_dir.iterdir()] == ["usage.json"]


def test_the_collector_gives_up_after_its_bounded_time(
    slurm: FakeSlurm, job_dir: Path, tmp_path: Path
) -> None:
    hanging = tmp_path / "fake-bin" / "sacct"
    hanging.unlink()
    hanging.write_text("#!/bin/sh\nexec sleep 40\n")
    hanging.chmod(0o755)

    done = _run_collector(_collection(job_dir, give_up_s=1))

    assert done.returncode == 1
    assert "usage not collected within 1s; giving up" in done.stderr
    assert list(job_dir.iterdir()) == []


def test_a_started_collection_logs_to_the_scheduler_log_and_writes_usage(
    slurm: FakeSlurm, job_dir: Path
) -> None:
    slurm.answer("sacct", stdout=recorded("usage", "sacct-usage", "5"))
    (job_dir / "scheduler.log").write_text("slurm's own line\n")

    start_detached_collection(_collection(job_dir))

    wait_for(lambda: (job_dir / "usage.json").exists(), timeout_s=40, what="usage.json")
    usage = Usage.load(job_dir)
    assert usage is not None and usage.source == "slurm-sacct"
    assert (job_dir / "scheduler.log").read_text() == "slurm's own line\n"


def test_a_failing_collection_says_why_in_the_scheduler_log(
    slurm: FakeSlurm, job_dir: Path, tmp_path: Path
) -> None:
    hanging = tmp_path / "fake-bin" / "sacct"
    hanging.unlink()
    hanging.write_text("#!/bin/sh\nexec sleep 40\n")
    hanging.chmod(0o755)
    log = job_dir / "scheduler.log"

    start_detached_collection(_collection(job_dir, give_up_s=1))

    wait_for(lambda: "giving up" in log.read_text(), timeout_s=40, what="the collector's warning")
    assert not (job_dir / "usage.json").exists()


def test_the_collector_imports_neither_click_nor_rich() -> None:
    probe = (
        "import sys\n"
        "import qxub_core.usage_collection, qxub_core.schedulers.slurm, qxub_core.logs\n"
        "print(sorted({'click', 'rich', 'pluggy', 'yaml'} & set(sys.modules)))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=30, check=True
    )

    assert done.stdout == "[]\n"
