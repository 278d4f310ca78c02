"""Bad input to the executor: the run's own values are refused at start, one job's fail that job.

Every refusal is one line naming the ``--qxub-*`` option or the rule's resource, without a
traceback, and leaves no job directory behind.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from conftest import Backend
from snakemake_workflow import WORKFLOW_TIMEOUT_S, job_dirs, run_snakemake, write_snakefile

pytestmark = pytest.mark.timeout(WORKFLOW_TIMEOUT_S + 60)

ONE_RULE = """
rule one:
    output: "one.txt"
    shell: "echo one > {output}"
"""

# (scheduler, options, the line Snakemake must print); {file} is a regular file.
START_REFUSALS = [
    ("local", ["--qxub-queue", "a\nb"], "qxub: --qxub-queue: 'a\\nb' must be one word"),
    ("slurm", ["--qxub-queue", "debug extra"], "qxub: --qxub-queue: 'debug extra' must be one"),
    ("pbs", ["--qxub-project", "ab 12"], "qxub: --qxub-project: 'ab 12' must be one word"),
    ("local", ["--qxub-log-dir", "{file}"], "qxub: --qxub-log-dir {file}: it is not a directory"),
    ("local", ["--qxub-log-dir", "{file}/logs"], "qxub: --qxub-log-dir {file}/logs: {file} is"),
    ("local", ["--qxub-status-interval-s", "-1"], "status-interval-s: -1 must be more than 0"),
    ("local", ["--qxub-status-interval-s", "0"], "status-interval-s: 0 must be more than 0"),
    (
        "local",
        ["--qxub-scheduler-args", "'unbalanced"],
        'qxub: --qxub-scheduler-args "\'unbalanced": No closing quotation',
    ),
    (
        "pbs",
        ["--qxub-scheduler-args=--job-name=x"],
        "qxub: --qxub-scheduler-args '--job-name=x': qsub takes no such option",
    ),
    (
        "slurm",
        ["--qxub-scheduler-args=--array=1-4"],
        "qxub: --qxub-scheduler-args '--array=1-4' asks for an array job",
    ),
    (
        "slurm",
        ["--qxub-scheduler-args=--job-name=x"],
        "qxub: --qxub-scheduler-args '--job-name=x' sets the name, which the executor",
    ),
    (
        "slurm",
        ["--qxub-queue", "debug", "--qxub-scheduler-args=-p debug"],
        "qxub: --qxub-scheduler-args '-p debug' sets the queue, which --qxub-queue also sets",
    ),
    (
        "pbs",
        ["--qxub-scheduler-args=-N x"],
        "qxub: --qxub-scheduler-args '-N x' sets the name, which the executor",
    ),
    (
        "pbs",
        ["--qxub-queue", "workq", "--qxub-scheduler-args=-q workq"],
        "qxub: --qxub-scheduler-args '-q workq' sets the queue, which --qxub-queue also sets",
    ),
]


@pytest.mark.parametrize(("scheduler", "options", "line"), START_REFUSALS)
def test_the_runs_own_bad_values_are_refused_at_start_in_one_line(
    scheduler: str,
    options: list[str],
    line: str,
    tmp_path: Path,
    job_root: Path,
    qxub_env: dict[str, str],
) -> None:
    # No scheduler is needed: nothing may reach one.
    regular_file = tmp_path / "a-file"
    regular_file.write_text("not a directory\n")
    options = [option.replace("{file}", str(regular_file)) for option in options]
    write_snakefile(tmp_path / "wf", ONE_RULE)

    done = run_snakemake(Backend(scheduler, qxub_env), tmp_path / "wf", options)

    assert done.returncode != 0
    assert line.replace("{file}", str(regular_file)) in done.stderr
    assert "Traceback" not in done.stderr
    assert 'File "' not in done.stderr
    assert not job_root.exists()
    assert not (tmp_path / "wf" / "one.txt").exists()


@pytest.mark.parametrize("given_as", ["option", "environment"])
def test_the_job_root_option_places_the_job_directories(
    given_as: str, tmp_path: Path, job_root: Path, qxub_env: dict[str, str]
) -> None:
    chosen_root = tmp_path / "chosen root"
    env = dict(qxub_env)
    options = []
    if given_as == "option":
        options = ["--qxub-job-root", str(chosen_root)]
    else:
        env["SNAKEMAKE_QXUB_JOB_ROOT"] = str(chosen_root)
    write_snakefile(tmp_path / "wf", ONE_RULE)

    done = run_snakemake(Backend("local", env), tmp_path / "wf", options)

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "wf" / "one.txt").read_text() == "one\n"
    assert len(job_dirs(chosen_root, "one")) == 1
    assert job_dirs(job_root, "one") == []


GOOD_RULE = """
rule good:
    output: "good.txt"
    shell: "echo fine > {output}"
"""

# Per backend: rule name -> (its resources, the message its job must fail with).
BAD_RULES: dict[str, dict[str, tuple[str, str]]] = {
    "local": {},
    "pbs": {
        "bad_name": (
            'qxub_scheduler_args="-N mine"',
            "qxub_scheduler_args '-N mine' sets the name, which the executor",
        ),
        "bad_queue": (
            'qxub_queue="workq", qxub_scheduler_args="-q workq"',
            "qxub_scheduler_args '-q workq' sets the queue, which qxub_queue also sets",
        ),
    },
    "slurm": {
        "bad_storage": (
            'qxub_storage="scratch/ab12"',
            "qxub_storage is a PBS (NCI Gadi) option; Slurm has no storage directive",
        ),
        "bad_jobfs": (
            'qxub_resources="jobfs=10GB"',
            "qxub_resources takes PBS resources; on Slurm pass sbatch options with "
            "qxub_scheduler_args",
        ),
        "bad_name": (
            'qxub_scheduler_args="--job-name=mine"',
            "qxub_scheduler_args '--job-name=mine' sets the name, which the executor",
        ),
        "bad_partition": (
            'qxub_queue="debug", qxub_scheduler_args="-p debug"',
            "qxub_scheduler_args '-p debug' sets the queue, which qxub_queue also sets",
        ),
    },
}
# Refused on every backend: a line break cannot reach a directive or submit command.
LINE_BREAK_RULE = (
    "qxub_scheduler_args=\"--comment='a\\nb'\"",
    "qxub_scheduler_args: \"--comment='a\\nb'\" contains a control character",
)


def _workflow(bad_rules: dict[str, tuple[str, str]]) -> str:
    targets = ", ".join(f'"{rule}.txt"' for rule in ["good", *bad_rules])
    text = f"rule all:\n    input: {targets}\n{GOOD_RULE}"
    for rule, (resources, _) in bad_rules.items():
        text += (
            f'\nrule {rule}:\n    output: "{rule}.txt"\n    resources: {resources}\n'
            '    shell: "touch {output}"\n'
        )
    return text


def test_a_job_the_scheduler_would_refuse_fails_alone_and_leaves_nothing(
    backend: Backend, tmp_path: Path, job_root: Path
) -> None:
    bad_rules = {**BAD_RULES[backend.name], "bad_line_break": LINE_BREAK_RULE}
    write_snakefile(tmp_path / "wf", _workflow(bad_rules))

    done = run_snakemake(backend, tmp_path / "wf", ["--keep-going"])

    assert done.returncode != 0
    assert (tmp_path / "wf" / "good.txt").read_text() == "fine\n"
    assert "Traceback" not in done.stderr
    for rule, (_, message) in bad_rules.items():
        assert f"qxub: cannot submit {rule}: {message}" in done.stderr
        assert not (tmp_path / "wf" / f"{rule}.txt").exists()
        assert job_dirs(job_root, rule) == []


@pytest.mark.parametrize("keep_logs", [False, True])
def test_a_log_that_cannot_be_written_does_not_fail_a_successful_job(
    keep_logs: bool, tmp_path: Path, qxub_env: dict[str, str]
) -> None:
    # The job itself puts a regular file where the log directory was.
    log_dir = tmp_path / "logs"
    write_snakefile(
        tmp_path / "wf",
        f"""
        rule one:
            output: "one.txt"
            shell: "rm -rf '{log_dir}' && touch '{log_dir}' && echo one > {{output}}"
        """,
    )
    options = ["--qxub-log-dir", str(log_dir)]
    options += ["--qxub-keep-successful-logs"] if keep_logs else []

    done = run_snakemake(Backend("local", qxub_env), tmp_path / "wf", options)

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "wf" / "one.txt").read_text() == "one\n"
    action = "write" if keep_logs else "remove"
    assert f"qxub: cannot {action} the log {log_dir}/one/no-wildcards/" in done.stderr
    assert os.path.isfile(log_dir)
