"""The Slurm adapter's command/parse pairs, run against fake Slurm commands on PATH."""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import pytest
from fake_slurm import FakeSlurm, install_fake_slurm
from golden_files import assert_matches_golden
from slurm_reference import recorded

from qxub_core.schedulers.base import JobPhase, SchedulerError
from qxub_core.schedulers.raw_args import RawArgumentConflict
from qxub_core.schedulers.slurm import (
    SlurmScheduler,
    job_id_from_submit_output,
    slurm_size,
    slurm_time,
)
from qxub_core.schedulers.slurm_usage import NO_ACCOUNTING_NOTE
from qxub_core.script import render_script
from qxub_core.spec import JobSpec, Resources, SpecError

JOB_DIR = Path("/home/user/.local/share/qxub/jobs/20261204-163000-train-1a2b3c4d")
GIB = 1024**3
DISABLED = "Slurm accounting storage is disabled\n"


@pytest.fixture
def slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSlurm:
    return install_fake_slurm(tmp_path, monkeypatch)


def _spec(**fields: object) -> JobSpec:
    command, workdir = ("python3", "train.py"), Path("/home/user/project")
    return JobSpec(command=command, workdir=workdir, **fields)  # type: ignore[arg-type]


FULL_SPEC = _spec(
    name="train",
    project="ab12",
    queue="gpu",
    resources=Resources(
        cpus=4, mem_bytes=16 * GIB, walltime_s=2 * 86400 + 30, gpus=2, disk_bytes=1536 * 1024**2
    ),
)


def test_directives_for_every_option() -> None:
    assert SlurmScheduler().directives(FULL_SPEC, JOB_DIR) == [
        "#SBATCH --job-name=train",
        "#SBATCH --account=ab12",
        "#SBATCH --partition=gpu",
        "#SBATCH --cpus-per-task=4",
        "#SBATCH --mem=16G",
        "#SBATCH --time=2-00:00:30",
        "#SBATCH --gpus=2",
        "#SBATCH --tmp=1536M",
        f"#SBATCH --output={JOB_DIR}/scheduler.log",
        "#SBATCH --open-mode=append",
        "#SBATCH --export=NONE",
        f"#SBATCH --chdir={JOB_DIR}",
    ]


def test_directives_leave_unset_options_to_slurm_and_quote_values() -> None:
    job_dir = Path("/home/o'brien/jobs/x y")

    lines = SlurmScheduler().directives(_spec(name="my job"), job_dir)

    assert lines[0] == "#SBATCH --job-name='my job'"
    assert lines[1] == """#SBATCH --output='/home/o'"'"'brien/jobs/x y/scheduler.log'"""
    assert not any(line.startswith(("#SBATCH --account", "#SBATCH --mem")) for line in lines)


def test_a_percent_sign_in_the_output_path_is_doubled_for_slurm() -> None:
    lines = SlurmScheduler().directives(_spec(), Path("/scratch/100%j/x"))

    assert "#SBATCH --output=/scratch/100%%j/x/scheduler.log" in lines
    assert "#SBATCH --chdir=/scratch/100%j/x" in lines


def test_a_job_directory_holding_a_backslash_is_refused() -> None:
    with pytest.raises(SpecError, match="backslash"):
        SlurmScheduler().directives(_spec(), Path("/scratch/a\\b/x"))


def test_scheduler_args_become_directives_after_qxub_own() -> None:
    spec = _spec(scheduler_args=("--qos=high --exclusive", "--constraint 'a100 & ib'"))

    lines = SlurmScheduler().directives(spec, JOB_DIR)

    assert lines[-3:] == [
        "#SBATCH --qos=high",
        "#SBATCH --exclusive",
        "#SBATCH --constraint 'a100 & ib'",
    ]


@pytest.mark.parametrize(
    ("raw", "fields", "named"),
    [
        ("-p debug", {"queue": "gpu"}, "--queue"),
        ("--partition=debug", {"queue": "gpu"}, "--queue"),
        ("-A ab12", {"project": "cd34"}, "--project"),
        ("--mem-per-cpu=2G", {"resources": Resources(mem_bytes=GIB)}, "--mem"),
        ("-t 10", {"resources": Resources(walltime_s=60)}, "--runtime"),
        ("--gres=gpu:a100:1", {"resources": Resources(gpus=1)}, "--gpus"),
        ("-c4", {"resources": Resources(cpus=2)}, "--cpus"),
        ("--job-name=other", {}, "--name"),
        ("--output=/tmp/x", {}, "qxub"),
        ("--export=ALL", {}, "qxub"),
    ],
)
def test_a_raw_option_setting_what_a_qxub_option_sets_is_refused(
    raw: str, fields: dict[str, object], named: str
) -> None:
    spec = _spec(scheduler_args=(raw,), **fields)

    with pytest.raises(RawArgumentConflict) as refused:
        SlurmScheduler().directives(spec, JOB_DIR)

    message = str(refused.value)
    assert raw.split()[0].split("=")[0] in message
    assert named in message
    assert "\n" not in message


@pytest.mark.parametrize("raw", ["--array=1-10", "-a 1-10"])
def test_an_array_job_is_refused(raw: str) -> None:
    with pytest.raises(SpecError, match="asks for an array job: qxub follows one scheduler job"):
        SlurmScheduler().directives(_spec(scheduler_args=(raw,)), JOB_DIR)


@pytest.mark.parametrize("raw", ["-p debug", "--gres=gpu:1", "--gres=license:2", "--qos=long"])
def test_a_raw_option_no_qxub_option_sets_passes(raw: str) -> None:
    lines = SlurmScheduler().directives(_spec(scheduler_args=(raw,)), JOB_DIR)

    assert lines[-1] == f"#SBATCH {raw}"


def test_gres_without_gpus_does_not_collide_with_gpus() -> None:
    spec = _spec(scheduler_args=("--gres=license:2",), resources=Resources(gpus=1))

    assert SlurmScheduler().directives(spec, JOB_DIR)[-1] == "#SBATCH --gres=license:2"


def test_pbs_only_options_are_refused() -> None:
    with pytest.raises(SpecError, match="--scheduler-args"):
        SlurmScheduler().directives(_spec(raw_resources=("place=excl",)), JOB_DIR)
    with pytest.raises(SpecError, match="--storage"):
        SlurmScheduler().directives(_spec(storage="gdata/ab12"), JOB_DIR)


def test_unbalanced_quotes_in_scheduler_args_are_refused() -> None:
    with pytest.raises(SpecError, match="--scheduler-args"):
        SlurmScheduler().directives(_spec(scheduler_args=("--comment='open",)), JOB_DIR)


@pytest.mark.parametrize(
    ("size", "text"),
    [(16 * GIB, "16G"), (1536 * 1024**2, "1536M"), (2 * 1024**4, "2T"), (1000, "1K"), (4096, "4K")],
)
def test_sizes_in_sbatch_units(size: int, text: str) -> None:
    assert slurm_size(size) == text


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(90, "00:01:30"), (7200, "02:00:00"), (86399, "23:59:59"), (90061, "1-01:01:01")],
)
def test_time_limits_in_sbatch_form(seconds: int, text: str) -> None:
    assert slurm_time(seconds) == text


@pytest.mark.parametrize(
    ("stdout", "job_id"),
    [
        ("4242\n", "4242"),
        ("4242;cluster2\n", "4242"),
        ("Site notice: maintenance on Friday\nUse your project code\n4242\n", "4242"),
        ("4242_7\n", "4242_7"),
        ("", None),
        ("Submitted batch job 4242\n", None),
    ],
)
def test_job_id_from_sbatch_parsable(stdout: str, job_id: str | None) -> None:
    assert job_id_from_submit_output(stdout) == job_id


def test_submit_runs_sbatch_parsable_on_the_script(slurm: FakeSlurm) -> None:
    slurm.answer("sbatch", stdout="Welcome to the cluster\n77;qxubtest\n")
    script = JOB_DIR / "job.sh"

    job_id = SlurmScheduler().submit(script, JOB_DIR, FULL_SPEC)

    assert job_id == "77"
    assert slurm.calls == [f"sbatch --parsable {script}"]


def test_a_refusal_surfaces_sbatch_message(slurm: FakeSlurm) -> None:
    error = "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
    slurm.answer("sbatch", stderr=error, returncode=1)

    with pytest.raises(SchedulerError) as refused:
        SlurmScheduler().submit(JOB_DIR / "job.sh", JOB_DIR, FULL_SPEC)

    assert str(refused.value) == error.strip()
    assert refused.value.returncode == 1
    assert not refused.value.transient
    assert len(slurm.calls) == 1


def test_an_answer_without_a_job_id_is_an_error(slurm: FakeSlurm) -> None:
    slurm.answer("sbatch", stdout="something unexpected\n")

    with pytest.raises(SchedulerError, match="without a job id"):
        SlurmScheduler().submit(JOB_DIR / "job.sh", JOB_DIR, FULL_SPEC)


def test_cancel_is_one_batched_scancel(slurm: FakeSlurm) -> None:
    SlurmScheduler().cancel(["5", "6", "7"])
    SlurmScheduler().cancel([])

    assert slurm.calls == ["scancel 5 6 7"]


def test_cancelling_an_ended_job_is_success(slurm: FakeSlurm) -> None:
    slurm.answer(
        "scancel",
        stderr="scancel: error: Kill job error on job id 5: "
        "Job/step already completing or completed\n"
        "scancel: error: Kill job error on job id 6: Invalid job id specified\n",
        returncode=1,
    )

    SlurmScheduler().cancel(["5", "6"])


def test_a_cancel_that_was_refused_is_an_error(slurm: FakeSlurm) -> None:
    slurm.answer(
        "scancel",
        stderr="scancel: error: Kill job error on job id 5: Access/permission denied\n",
        returncode=1,
    )

    with pytest.raises(SchedulerError, match="permission denied"):
        SlurmScheduler().cancel(["5"])


def test_query_asks_sacct_once_for_every_job(slurm: FakeSlurm) -> None:
    slurm.answer(
        "sacct",
        stdout=recorded("exit3", "sacct-state", "5") + recorded("running", "sacct-state", "6"),
    )

    states = SlurmScheduler().query(["5", "6", "5"])

    assert (states["5"].phase, states["5"].exit_code) == (JobPhase.ENDED, 3)
    assert states["6"].phase is JobPhase.RUNNING
    assert slurm.calls == [
        "sacct --noheader --parsable2 --jobs=5,6 --format=JobID,State,ExitCode,Reason,Start"
    ]


def test_jobs_sacct_has_not_recorded_yet_are_asked_of_the_controller(slurm: FakeSlurm) -> None:
    slurm.answer("sacct", stdout=recorded("exit3", "sacct-state", "5"))
    slurm.answer("squeue", stdout=recorded("pending", "squeue", "6"))

    states = SlurmScheduler().query(["5", "6"])

    assert states["6"].phase is JobPhase.QUEUED
    assert slurm.calls[1] == (
        "squeue --noheader --states=all --jobs=6 "
        "--Format=JobID:|,State:|,Reason:|,exit_code:|,BatchHost:|"
    )


def test_a_node_failure_slurm_requeued_is_queued_again_not_ended(slurm: FakeSlurm) -> None:
    slurm.answer("sacct", stdout="5|NODE_FAIL|1:0|None|2026-12-04T17:45:58\n")
    slurm.answer("squeue", stdout="5|PENDING|BeginTime|0|n/a|\n")

    states = SlurmScheduler().query(["5"])

    assert states["5"].phase is JobPhase.QUEUED


def test_a_node_failure_the_controller_forgot_stays_ended(slurm: FakeSlurm) -> None:
    slurm.answer("sacct", stdout="5|NODE_FAIL|1:0|None|2026-12-04T17:45:58\n")

    states = SlurmScheduler().query(["5"])

    assert (states["5"].phase, states["5"].exit_code) == (JobPhase.ENDED, 125)
    assert [call.split()[0] for call in slurm.calls] == ["sacct", "squeue"]


def test_a_job_nobody_knows_is_unknown(slurm: FakeSlurm) -> None:
    slurm.answer("squeue", stderr="slurm_load_jobs error: Invalid job id specified\n", returncode=1)

    states = SlurmScheduler().query(["9"])

    assert states["9"].phase is JobPhase.UNKNOWN


def test_without_accounting_the_controller_answers_and_sacct_is_not_asked_again(
    slurm: FakeSlurm, caplog: pytest.LogCaptureFixture
) -> None:
    slurm.answer("sacct", stderr=DISABLED, returncode=1)
    slurm.answer("squeue", stdout=recorded("timeout", "squeue", "5"))
    scheduler = SlurmScheduler()

    with caplog.at_level(logging.INFO, logger="qxub_core.schedulers.slurm"):
        first = scheduler.query(["5"])
        second = scheduler.query(["5"])

    assert first["5"].exit_code == second["5"].exit_code == 124
    assert [call.split()[0] for call in slurm.calls] == ["sacct", "squeue", "squeue"]
    assert sum("accounting is disabled" in record.message for record in caplog.records) == 1


def test_a_failing_sacct_falls_back_to_the_controller_for_that_round(slurm: FakeSlurm) -> None:
    slurm.answer("sacct", stderr="sacct: error: Problem talking to the database\n", returncode=1)
    slurm.answer("squeue", stdout=recorded("running", "squeue", "5"))
    scheduler = SlurmScheduler()

    scheduler.query(["5"])
    scheduler.query(["5"])

    assert [call.split()[0] for call in slurm.calls] == ["sacct", "squeue", "sacct", "squeue"]


def test_usage_from_sacct(slurm: FakeSlurm) -> None:
    slurm.answer("sacct", stdout=recorded("usage", "sacct-usage", "5"))

    usage = SlurmScheduler().usage("5", JOB_DIR, FULL_SPEC)

    assert usage is not None and usage.source == "slurm-sacct"
    assert usage.cpus == 2
    assert usage.peak_mem_bytes is not None and usage.peak_mem_bytes > 200 * 1024**2
    assert slurm.calls == [
        "sacct --noheader --parsable2 --jobs=5 "
        "--format=JobID,State,ExitCode,Elapsed,TotalCPU,MaxRSS,ReqMem,AllocCPUS,Timelimit"
    ]


def test_usage_waits_a_bounded_time_for_sacct_to_record_the_end(slurm: FakeSlurm) -> None:
    slurm.answer("sacct", stdout=recorded("running", "sacct-usage", "5"))
    scheduler = SlurmScheduler()
    scheduler.usage_wait_s = 0.0  # spent by the first answer, however fast the machine is

    usage = scheduler.usage("5", JOB_DIR, FULL_SPEC)

    assert usage is not None
    assert "sacct's record of the job was still incomplete after 0s" in usage.notes
    assert len(slurm.calls) == 1


def test_usage_waits_for_the_requests_of_a_job_recorded_ended_before_its_start(
    slurm: FakeSlurm,
) -> None:
    """A short job's end can reach sacct before its start does, and with it what it asked for."""
    slurm.answer("sacct", stdout=recorded("start-unrecorded", "sacct-usage", "5"))
    slurm.answer_next("sacct", stdout=recorded("exit3", "sacct-usage", "5"))
    scheduler = SlurmScheduler()
    scheduler.usage_poll_s = 0.0

    usage = scheduler.usage("5", JOB_DIR, FULL_SPEC)

    assert usage is not None
    assert (usage.mem_requested_bytes, usage.walltime_requested_s) == (500 * 1024**2, None)
    assert usage.extra["state"] == "FAILED"
    assert len(slurm.calls) == 2


def test_usage_without_accounting_comes_from_the_controller(slurm: FakeSlurm) -> None:
    slurm.answer("sacct", stderr=DISABLED, returncode=1)
    slurm.answer("scontrol", stdout=recorded("usage", "scontrol", "5"))

    usage = SlurmScheduler().usage("5", JOB_DIR, FULL_SPEC)

    assert usage is not None and usage.source == "slurm-scontrol"
    assert usage.cpu_time_s is None
    assert NO_ACCOUNTING_NOTE in usage.notes
    assert slurm.calls[-1] == "scontrol --oneliner show job 5"


def test_usage_of_a_forgotten_job_without_accounting_invents_nothing(slurm: FakeSlurm) -> None:
    slurm.answer("sacct", stderr=DISABLED, returncode=1)
    slurm.answer(
        "scontrol", stderr="slurm_load_jobs error: Invalid job id specified\n", returncode=1
    )

    usage = SlurmScheduler().usage("5", JOB_DIR, FULL_SPEC)

    assert usage is not None and usage.walltime_used_s is None
    assert "Invalid job id" in usage.notes[-1]


@pytest.mark.parametrize(
    ("stdout", "returncode", "found"),
    [
        ("slurm-wlm 22.05.8\n", 0, True),
        ("slurm 23.11.4\n", 0, True),
        ("SGE 8.1.9\n", 0, False),
        ("", 1, False),
    ],
)
def test_detect_from_sbatch_version(
    slurm: FakeSlurm, stdout: str, returncode: int, found: bool
) -> None:
    slurm.answer("sbatch", stdout=stdout, returncode=returncode)

    assert SlurmScheduler.detect() is found


def test_detect_without_sbatch(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))

    assert SlurmScheduler.detect() is False


GOLDEN_SPECS = {
    "slurm-full.sh": FULL_SPEC,
    "slurm-minimal-clean-env.sh": _spec(clean_env=True),
    "slurm-scheduler-args.sh": _spec(
        resources=Resources(gpus=1), scheduler_args=("--qos=high", "--constraint 'a100|h100'")
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_rendered_slurm_script_matches_golden(name: str) -> None:
    text = render_script(GOLDEN_SPECS[name], SlurmScheduler(), JOB_DIR)

    assert_matches_golden(name, text)


def test_bash_accepts_every_slurm_golden_script(tmp_path: Path) -> None:
    for name, spec in GOLDEN_SPECS.items():
        script = tmp_path / name
        script.write_text(render_script(spec, SlurmScheduler(), JOB_DIR))
        subprocess.run(["bash", "-n", str(script)], check=True, timeout=10)
