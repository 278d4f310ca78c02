"""The real ``qxub --scheduler pbs`` end to end through the PBS emulator.

The same qsub/qstat/qdel a user's PBS would have, as executables on PATH: qxub runs its real
subprocess path. What PBS itself decides (271 after qdel, -29 after a walltime kill, 265 after
SIGKILL) comes from the emulator's MoM watching a real process.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import PROCESS_TIMEOUT_S, QXUB, only_job_dir, wait_for
from golden_files import assert_matches_golden
from pbs_emulator_env import emulator_environment, run_pbs, set_fault

from qxub_core.schedulers import pbs_qstat

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def pbs_env(qxub_env: dict[str, str], tmp_path: Path) -> Iterator[dict[str, str]]:
    """qxub's environment with the emulator first on PATH and a longer grace period.

    The grace period covers the emulator's MoM recording how a signalled job ended.
    """
    env = {**qxub_env, **emulator_environment(tmp_path), "QXUB_GRACE_PERIOD_S": "5"}
    yield env
    shutil.rmtree(env["QXUB_JOB_ROOT"], ignore_errors=True)  # ends the accounting watchers


def _qxub(env: dict[str, str], *args: str, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(QXUB), "--scheduler", "pbs", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=PROCESS_TIMEOUT_S,
    )


def _start(env: dict[str, str], *args: str, cwd: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [str(QXUB), "--scheduler", "pbs", *args],
        env=env,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def _record(env: dict[str, str], job_id: str) -> pbs_qstat.QstatJob:
    done = run_pbs(env, "qstat", "-fx", job_id)
    return pbs_qstat.parse_text(done.stdout)[job_id]


def _job_id(job_dir: Path) -> str:
    (started,) = job_dir.glob("job_started_*")
    return started.name.removeprefix("job_started_")


def test_output_and_exit_code(pbs_env: dict[str, str], tmp_path: Path, job_root: Path) -> None:
    program = "import sys; sys.stdout.write('out\\r50%\\n'); sys.stderr.write('err'); sys.exit(3)"

    done = _qxub(pbs_env, "--", sys.executable, "-c", program, cwd=tmp_path)

    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\r50%\n", b"err")
    job_dir = only_job_dir(job_root)
    record = _record(pbs_env, _job_id(job_dir))
    assert record.get("Exit_status") == "3"
    assert record.get("Join_Path") == "oe"
    assert record.get(
        "Output_Path",
    ).endswith(f"{job_dir}/scheduler.log")  # type: ignore[union-attr]


def test_job_runs_in_the_submission_directory(pbs_env: dict[str, str], tmp_path: Path) -> None:
    work = tmp_path / "work dir"
    work.mkdir()

    done = _qxub(pbs_env, "--", "pwd", cwd=work)

    assert (done.returncode, done.stdout) == (0, f"{work}\n".encode())


def test_ctrl_c_deletes_the_job(pbs_env: dict[str, str], tmp_path: Path, job_root: Path) -> None:
    qxub = _start(pbs_env, "--", "sleep", "60", cwd=tmp_path)
    wait_for(lambda: job_root.exists() and any(job_root.glob("*/job_started_*")), what="start")
    job_id = _job_id(only_job_dir(job_root))

    qxub.send_signal(signal.SIGINT)
    _, stderr = qxub.communicate(timeout=PROCESS_TIMEOUT_S)

    assert qxub.returncode == 130, stderr
    assert f"job {job_id} cancelled".encode() in stderr
    record = _record(pbs_env, job_id)
    assert (record.get("job_state"), record.get("substate")) == ("F", "91")
    assert record.get("Exit_status") == "271"


def test_ctrl_c_deletes_a_queued_job(pbs_env: dict[str, str], tmp_path: Path) -> None:
    set_fault(pbs_env, "never_start", "")
    qxub = _start(pbs_env, "--", "true", cwd=tmp_path)
    wait_for(lambda: run_pbs(pbs_env, "qselect").stdout.strip() != "", what="qsub")
    job_id = run_pbs(pbs_env, "qselect").stdout.strip()

    qxub.send_signal(signal.SIGINT)
    qxub.communicate(timeout=PROCESS_TIMEOUT_S)

    assert qxub.returncode == 130
    record = _record(pbs_env, job_id)
    assert (record.get("job_state"), record.get("substate"), record.get("Exit_status")) == (
        "F", "91", None,
    )  # fmt: skip


def test_walltime_kill(pbs_env: dict[str, str], tmp_path: Path, job_root: Path) -> None:
    done = _qxub(pbs_env, "--runtime", "5s", "--", "sleep", "60", cwd=tmp_path)

    assert done.returncode == 124, done.stderr
    assert b"job killed: walltime limit 00:00:05 exceeded" in done.stderr
    record = _record(pbs_env, _job_id(only_job_dir(job_root)))
    assert record.get("Exit_status") == "-29"


def test_sigkilled_job_is_found_through_the_fallback(
    pbs_env: dict[str, str], tmp_path: Path, job_root: Path
) -> None:
    set_fault(pbs_env, "sigkill_after_s", "1")

    done = _qxub(pbs_env, "--", "sleep", "60", cwd=tmp_path)

    assert done.returncode == 137, done.stderr
    job_dir = only_job_dir(job_root)
    assert not list(job_dir.glob("final_exit_code_*"))
    assert _record(pbs_env, _job_id(job_dir)).get("Exit_status") == "265"


def test_transient_qstat_failures_are_retried(pbs_env: dict[str, str], tmp_path: Path) -> None:
    set_fault(pbs_env, "sigkill_after_s", "0.5")
    set_fault(pbs_env, "qstat_failures", "2")

    done = _qxub(pbs_env, "--", "sleep", "60", cwd=tmp_path)

    assert done.returncode == 137, done.stderr
    faults = Path(pbs_env["PBS_EMULATOR_HOME"]) / "faults" / "qstat_failures"
    assert faults.read_text() == "0"  # both failures were met, and the job still resolved


def test_notices_before_the_job_id(pbs_env: dict[str, str], tmp_path: Path) -> None:
    set_fault(pbs_env, "qsub_notices", "Notice: this site charges SU\n\n")

    done = _qxub(pbs_env, "--terse", "--", "true", cwd=tmp_path)

    assert (done.returncode, done.stdout) == (0, b"0.vm\n")


def test_qsub_refusal_is_qsubs_own_message(
    pbs_env: dict[str, str], tmp_path: Path, job_root: Path
) -> None:
    done = _qxub(pbs_env, "--resources", "foo=1", "--", "true", cwd=tmp_path)

    assert done.returncode == 125
    assert b"qsub: Unknown resource Resource_List.foo" in done.stderr
    assert run_pbs(pbs_env, "qselect", "-x").stdout == ""  # nothing queued
    assert list(job_root.iterdir()) == []  # and no job directory left


def test_site_refusals_surface_as_qsubs_message(tmp_path: Path, qxub_env: dict[str, str]) -> None:
    site = {**qxub_env, **emulator_environment(tmp_path, projects="a000", max_walltime="48:00:00")}

    foreign = _qxub(site, "-P", "cd82", "--", "true", cwd=tmp_path)
    too_long = _qxub(site, "-P", "a000", "--runtime", "3d", "--", "true", cwd=tmp_path)

    assert foreign.returncode == 125
    assert b"qsub: Error: You are not a member of project cd82." in foreign.stderr
    assert too_long.returncode == 125
    assert b"qsub: Job violates queue and/or server resource limits" in too_long.stderr
    shutil.rmtree(site["QXUB_JOB_ROOT"], ignore_errors=True)


def test_unknown_queue_is_refused(pbs_env: dict[str, str], tmp_path: Path) -> None:
    done = _qxub(pbs_env, "--queue", "express", "--", "true", cwd=tmp_path)

    assert done.returncode == 125
    assert b"qsub: Unknown queue" in done.stderr


def test_raw_value_colliding_with_an_option_is_refused(
    pbs_env: dict[str, str], tmp_path: Path, job_root: Path
) -> None:
    done = _qxub(pbs_env, "--mem", "1GB", "--resources", "mem=2gb", "--", "true", cwd=tmp_path)

    assert done.returncode == 2
    assert b"--resources 'mem=2gb'" in done.stderr and b"--mem" in done.stderr
    assert run_pbs(pbs_env, "qselect", "-x").stdout == ""


def test_resources_reach_pbs_and_usage_is_recorded(
    pbs_env: dict[str, str], tmp_path: Path, job_root: Path
) -> None:
    done = _qxub(
        pbs_env, "--cpus", "1", "--mem", "512MB", "--runtime", "10m", "--", "true", cwd=tmp_path
    )

    assert done.returncode == 0, done.stderr
    job_dir = only_job_dir(job_root)
    record = _record(pbs_env, _job_id(job_dir))
    assert record.get("Resource_List.select") == "1:ncpus=1:mem=512mb"
    assert record.get("Resource_List.walltime") == "00:10:00"
    assert record.get("umask") == "77"
    wait_for(lambda: (job_dir / "usage.json").exists(), what="usage record")
    usage = json.loads((job_dir / "usage.json").read_text())
    assert usage["source"] == "pbs-qstat"
    assert usage["mem_requested_bytes"] == 512 * 1024**2
    assert usage["walltime_requested_s"] == 600
    assert usage["extra"]["queue"] == "workq"


def test_detection_finds_the_emulator(pbs_env: dict[str, str], tmp_path: Path) -> None:
    code = "from qxub_core.schedulers import resolve_scheduler_name as r; print(r('auto'))"

    done = subprocess.run(
        [sys.executable, "-c", code], env=pbs_env, capture_output=True, text=True, timeout=60
    )

    assert done.stdout == "pbs\n", done.stderr


def test_torque_is_refused(pbs_env: dict[str, str], tmp_path: Path) -> None:
    fake = tmp_path / "torque-bin"
    fake.mkdir()
    (fake / "qstat").write_text("#!/bin/sh\necho 'Version: 6.1.2'\necho 'Commit: abc'\n")
    (fake / "qstat").chmod(0o755)
    env = {**pbs_env, "PATH": f"{fake}{os.pathsep}{pbs_env['PATH']}"}

    done = _qxub(env, "--", "true", cwd=tmp_path)

    assert done.returncode == 125
    assert b"Torque" in done.stderr


def test_no_qstat_calls_while_the_status_files_speak(
    pbs_env: dict[str, str], tmp_path: Path
) -> None:
    calls = tmp_path / "qstat-calls"
    wrapper = tmp_path / "counting-bin"
    wrapper.mkdir()
    real = Path(pbs_env["PATH"].split(os.pathsep)[0]) / "qstat"
    log_call = f'echo "$(date +%s.%N) $*" >>{calls}'
    (wrapper / "qstat").write_text(f'#!/bin/sh\n{log_call}\nexec {real} "$@"\n')
    (wrapper / "qstat").chmod(0o755)
    env = {**pbs_env, "PATH": f"{wrapper}{os.pathsep}{pbs_env['PATH']}"}
    env["QXUB_FALLBACK_INTERVAL_S"] = "60"

    done = _qxub(env, "--", "sleep", "3", cwd=tmp_path)

    assert done.returncode == 0
    # The accounting watcher asks qstat -fx once the final status file exists; before that,
    # only the one-off version check may have run.
    (final_file,) = Path(env["QXUB_JOB_ROOT"]).glob("*/final_exit_code_*")
    ended_s = final_file.stat().st_mtime
    lines = calls.read_text().splitlines() if calls.exists() else []
    calls_before_the_end = [
        line.partition(" ")[2] for line in lines if float(line.split()[0]) < ended_s
    ]
    assert [call for call in calls_before_the_end if call != "--version"] == [], lines


@pytest.mark.parametrize("form", ["select", "plain"])
def test_dry_run_directives_for_gadi(pbs_env: dict[str, str], tmp_path: Path, form: str) -> None:
    env = {**pbs_env, "QXUB_PBS_RESOURCE_FORM": form}
    args = [
        "--dry", "-N", "train run", "-P", "ab12", "-q", "gpuvolta", "--cpus", "12",
        "--mem", "95GB", "--gpus", "1", "--runtime", "1d", "--disk", "100GB",
        "--storage", "gdata/ab12+scratch/ab12", "-l", "software=matlab",
        "--scheduler-args", "-W depend=afterok:1.gadi-pbs -m abe",
    ]  # fmt: skip

    done = _qxub(env, *args, "--", "python", "train.py", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    lines = done.stdout.decode().splitlines()
    pinned = [line for line in lines if line.startswith(("#PBS", "# qsub"))]
    text = "\n".join(pinned).replace(str(pbs_env["QXUB_JOB_ROOT"]), "<JOB_ROOT>")
    text = re.sub(r"/\d{8}-\d{6}-(\S+)-[0-9a-f]{8}/", r"/<STAMP>-\1-<RANDOM>/", text)
    assert_matches_golden(f"pbs-gadi-{form}.txt", text + "\n")
