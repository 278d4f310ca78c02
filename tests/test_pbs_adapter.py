"""The PBS adapter's command/parse pairs that need no scheduler: directives, ids, answers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from pbs_reference import public

from qxub_core.schedulers import pbs_qstat
from qxub_core.schedulers.pbs import (
    PbsScheduler,
    flavour_from_version,
    job_id_from_qsub,
    job_name,
    qdel_succeeded,
    qstat_answered,
    usage_from_qstat,
)
from qxub_core.schedulers.raw_args import RawArgumentConflict
from qxub_core.spec import JobSpec, Resources, SpecError

POLARIS_ID = "412020.polaris-pbs-01.hsn.cm.polaris.alcf.anl.gov"
JOB_DIR = Path("/scratch/ab12/qxub/jobs/20261204-163000-train-x1y2")


def _spec(**fields: object) -> JobSpec:
    return JobSpec(command=("python3", "train.py"), **fields)  # type: ignore[arg-type]


def test_directives_in_select_form() -> None:
    spec = _spec(
        name="train",
        project="ab12",
        queue="normal",
        resources=Resources(
            cpus=4, mem_bytes=16 * 1024**3, walltime_s=7200, gpus=1, disk_bytes=100 * 1024**3
        ),
        storage="gdata/ab12+scratch/ab12",
    )

    assert PbsScheduler().directives(spec, JOB_DIR) == [
        "#PBS -N train",
        "#PBS -P ab12",
        "#PBS -q normal",
        "#PBS -l select=1:ncpus=4:mem=16gb:ngpus=1",
        "#PBS -l walltime=02:00:00",
        "#PBS -l jobfs=100gb",
        "#PBS -l storage=gdata/ab12+scratch/ab12",
        "#PBS -j oe",
        f"#PBS -o {JOB_DIR}/scheduler.log",
        "#PBS -W umask=077",
    ]


def test_directives_in_plain_form_with_raw_resources() -> None:
    spec = _spec(
        resources=Resources(cpus=2, mem_bytes=1536 * 1024**2),
        raw_resources=("software=matlab", "place=excl"),
    )

    lines = PbsScheduler({"pbs_resource_form": "plain"}).directives(spec, Path("/tmp/a b"))

    assert lines == [
        "#PBS -N qxub",
        "#PBS -l ncpus=2",
        "#PBS -l mem=1536mb",
        "#PBS -l software=matlab",
        "#PBS -l place=excl",
        "#PBS -j oe",
        "#PBS -o '/tmp/a b/scheduler.log'",
        "#PBS -W umask=077",
    ]


def test_unknown_resource_form_is_refused_with_the_valid_ones() -> None:
    with pytest.raises(SpecError, match="select, plain"):
        PbsScheduler({"pbs_resource_form": "chunky"}).directives(
            _spec(resources=Resources(cpus=1)), JOB_DIR
        )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("train", "train"),
        ("my job/1", "my_job_1"),
        ("-x", "q-x"),
        ("é", "q_"),
        ("a" * 300, "a" * 236),
    ],
)
def test_job_names_are_made_acceptable(name: str, expected: str) -> None:
    assert job_name(name) == expected


def test_bad_storage_is_refused() -> None:
    with pytest.raises(SpecError, match="--storage"):
        PbsScheduler().directives(_spec(storage="gdata/ab12 scratch"), JOB_DIR)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"resources": Resources(mem_bytes=1024**3), "raw_resources": ("mem=4gb",)},
         "--resources 'mem=4gb' sets the mem, which --mem also sets"),
        ({"resources": Resources(cpus=2), "raw_resources": ("select=2:ncpus=48",)},
         "--resources 'select=2:ncpus=48' sets the select, which --cpus/--mem/--gpus also sets"),
        ({"resources": Resources(walltime_s=60), "scheduler_args": ("-l walltime=1:00:00",)},
         "--scheduler-args '-l walltime=1:00:00' sets the walltime, which --runtime also sets"),
        ({"queue": "normal", "scheduler_args": ("-q express",)},
         "--scheduler-args '-q express' sets the queue, which --queue also sets"),
        ({"project": "ab12", "scheduler_args": ("-Pcd34",)},
         "--scheduler-args '-P cd34' sets the project, which --project also sets"),
        ({"scheduler_args": ("-N other",)}, "sets the name, which --name also sets"),
        ({"scheduler_args": ("-o /tmp/x",)}, "sets the output, which qxub"),
        ({"scheduler_args": ("-W umask=022",)}, "sets the umask, which qxub"),
        ({"scheduler_args": ("-V",)}, "sets the environment, which qxub"),
        ({"storage": "gdata/ab12", "raw_resources": ("storage=scratch/ab12",)},
         "which --storage also sets"),
        ({"raw_resources": ("mem=4gb",), "scheduler_args": ("-l mem=8gb",)},
         "--scheduler-args '-l mem=8gb' and --resources 'mem=4gb' both set the mem"),
    ],
)  # fmt: skip
def test_raw_values_that_collide_are_refused_naming_both(
    fields: dict[str, object], message: str
) -> None:
    with pytest.raises(RawArgumentConflict) as refused:
        PbsScheduler().directives(_spec(**fields), JOB_DIR)

    assert message in str(refused.value)


@pytest.mark.parametrize(
    ("scheduler_args", "message"),
    [
        ("--job-name=x", "--scheduler-args '--job-name=x': qsub takes no such option"),
        ("-m abe --mem 4G", "--scheduler-args '--mem': qsub takes no such option"),
        ("-J 1-10", "--scheduler-args '-J 1-10' asks for an array job: qxub follows one"),
    ],
)
def test_raw_options_qsub_or_qxub_cannot_take_are_refused(
    scheduler_args: str, message: str
) -> None:
    with pytest.raises(SpecError) as refused:
        PbsScheduler().directives(_spec(scheduler_args=(scheduler_args,)), JOB_DIR)

    assert message in str(refused.value)


def test_raw_values_that_do_not_collide_pass_through() -> None:
    spec = _spec(
        resources=Resources(cpus=2),
        raw_resources=("software=matlab",),
        scheduler_args=("-W depend=afterok:12.srv -m abe",),
    )
    scheduler = PbsScheduler()

    assert "#PBS -l software=matlab" in scheduler.directives(spec, JOB_DIR)
    assert scheduler.submit_command(JOB_DIR / "job.sh", JOB_DIR, spec) == [
        "qsub", "-W", "depend=afterok:12.srv", "-m", "abe", f"{JOB_DIR}/job.sh",
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("output", "job_id"),
    [
        ("12345.gadi-pbs\n", "12345.gadi-pbs"),
        ("123[].server\n", "123[].server"),
        ("Notice: Using default nodes=1:ppn=1\nNOTE: jobs cost SU\n17.vm\n", "17.vm"),
        ("14\n", "14"),
        (f"{POLARIS_ID}\n\n", POLARIS_ID),
        ("qsub: submitted\n", None),
    ],
)  # fmt: skip
def test_job_id_from_qsub_output(output: str, job_id: str | None) -> None:
    assert job_id_from_qsub(output) == job_id


@pytest.mark.parametrize(
    ("text", "flavour"),
    [
        ("pbs_version = 23.06.06\n", "pbs"),
        ("pbs_version = 2022.1.3.20230614134139\n", "pbs"),
        ("Version: 6.1.2\nCommit: 661e092552de43a785c15d39a3634a541d86898e\n", "torque"),
        ("version: 4.2.8\n", "torque"),
        ("SGE 8.1.9\nusage: qstat [options]\n", "other"),
        ("GE 6.2u5\n", "other"),
        ("", "other"),
    ],
)
def test_flavour_from_version(text: str, flavour: str) -> None:
    assert flavour_from_version(text) == flavour


def _done(returncode: int, stdout: str = "", stderr: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.CompletedProcess(["x"], returncode, stdout, stderr)


def test_qstat_answers() -> None:
    assert qstat_answered(_done(0, "{}"))
    assert not qstat_answered(_done(0, ""))  # rc 0 with nothing printed is not an answer
    assert qstat_answered(_done(153, "{}", "qstat: Unknown Job Id 999.vm\n"))
    assert qstat_answered(_done(35, "", "qstat: 3.vm Job has finished, use -x or -H to obtain\n"))
    assert not qstat_answered(_done(255, "", "qstat: cannot connect to server vm (errno=15010)\n"))


def test_qdel_of_an_ended_job_is_success() -> None:
    assert qdel_succeeded(_done(0))
    assert qdel_succeeded(_done(35, "", "qdel: Job has finished 5.vm\n"))
    assert qdel_succeeded(_done(153, "", "qdel: Unknown Job Id 999.vm\n"))
    assert qdel_succeeded(_done(35, "", "qdel: Job has finished\n"))
    assert not qdel_succeeded(_done(159, "", "qdel: Unauthorized Request  5.vm\n"))
    assert not qdel_succeeded(_done(255, "", ""))


def test_usage_from_gadi_accounting() -> None:
    jobs = pbs_qstat.parse_text(public("gadi_2025_qstat_fx_finished_exit0.txt"))

    usage = usage_from_qstat("137011321.gadi-pbs", jobs["137011321.gadi-pbs"])

    assert usage.walltime_used_s == 34
    assert usage.cpu_time_s == 1
    assert usage.cpus == 4
    assert usage.peak_mem_bytes == 404316 * 1024
    assert usage.mem_requested_bytes == 3 * 1024**3
    assert usage.walltime_requested_s == 1800
    assert usage.cpu_efficiency == pytest.approx(1 / (34 * 4))
    assert usage.mem_efficiency == pytest.approx(404316 * 1024 / (3 * 1024**3))
    assert usage.walltime_efficiency == pytest.approx(34 / 1800)
    assert usage.extra["queue"] == "normal-exec"
    assert usage.extra["exec_host"] == "gadi-cpu-clx-2119/21*4"
    assert usage.extra["obittime"] == "Fri Mar 14 16:58:41 2025"
    assert usage.extra["exit_status"] == 0
