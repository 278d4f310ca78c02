"""The ``qxub`` command line: the ``--`` rule, refusals before anything exists, ``--dry``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import CLUSTER_BACKENDS, Backend, RunQxub
from golden_files import assert_matches_golden
from qxub_process import isolated_environ, run_plain_qxub

JOB_DIR_PATTERN = re.compile(r"/\S*/jobs/\d{8}-\d{6}-([A-Za-z0-9._+-]+)-[0-9a-f]{8}")


def _refusal(tmp_path: Path, args: list[str]) -> str:
    """Run ``qxub args`` expecting a usage refusal; its one stderr line."""
    done = run_plain_qxub(args, isolated_environ(tmp_path), tmp_path)

    assert done.returncode == 2, done.stderr
    assert done.stdout == b""
    lines = done.stderr.decode().splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("qxub: ")
    assert not (tmp_path / "jobs").exists()
    return lines[0]


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["python3", "-c", "pass"], "unexpected argument 'python3': put the command after '--'"),
        ([], "the command must follow '--'"),
        (["--mem", "1GB"], "the command must follow '--'"),
        (["--"], "no command after '--'"),
        (["--shell", "ls | wc", "--", "ls"], "--shell takes the whole line as its value"),
        (["exec", "python3"], "unexpected argument 'python3'"),
    ],
)
def test_the_command_must_follow_the_separator(tmp_path: Path, args: list[str], words: str) -> None:
    assert words in _refusal(tmp_path, args)


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--mem", "16XB"], "--mem: cannot read '16XB'; use a number with a unit: 512MB, 16GB"),
        (["--mem", "16"], "--mem: cannot read '16'"),
        (["--disk", "-5GB"], "--disk: cannot read '-5GB'"),
        (["--runtime", "90"], "--runtime: cannot read '90'; use 90s, 90m, 2h30m, 1d or 01:30:00"),
        (["--walltime", "1x"], "--runtime: cannot read '1x'"),
        (["--cpus", "four"], "--cpus: 'four' is not a whole number of at least 1"),
        (["--cpus", "0"], "--cpus: '0' is not a whole number of at least 1"),
        (["--gpus", "-1"], "--gpus: '-1' is not a whole number of at least 0"),
        (["--cpus", "1000001"], "--cpus: '1000001' is more than the most qxub asks for, 1000000"),
        (["--runtime", "99999999999999999999d"], "--runtime: '99999999999999999999d' is longer"),
        (["--mem", "2048TB"], "--mem: '2048TB' is more than the most qxub asks for, 1024TB"),
        (["--var", "1ABC=x"], "--var: cannot set '1ABC' (not a shell variable name)"),
        (
            ["--var", "UID=5", "--var", "A-B=1", "--var", "SHELLOPTS=x", "--var", "OK=1"],
            "--var: cannot set 'A-B' (not a shell variable name); SHELLOPTS, UID (read-only",
        ),
        (["--var", "NOEQUALS"], "--var: cannot read 'NOEQUALS'"),
        (["--execdir", "/no/such/dir"], "--execdir: '/no/such/dir' is not an existing directory"),
        (["--out", "/no/such/dir/out.txt"], "--out: the directory of '/no/such/dir/out.txt'"),
        (["--err", "/"], "--err: '/' is a directory"),
        (["--out", ""], "--out: the path is empty; give a file path"),
        (["--out", "x.log", "--err", "./x.log"], "--out and --err name the same file './x.log'"),
        (["--terse", "--quiet"], "--terse and --quiet cannot be combined"),
        (["--quiet", "--no-wait"], "--quiet and --no-wait cannot be combined"),
        (["--env", "a", "--sif", "x.sif"], "--env and --sif cannot be combined"),
        (["--bind", "/scratch"], "--bind needs --sif IMAGE"),
        (["--scheduler", "lsf"], "unknown scheduler 'lsf'; choose one of auto, local, pbs, slurm"),
        (["--scheduler-args", "'unclosed"], "--scheduler-args: cannot split"),
        (["--frobnicate"], "No such option '--frobnicate'"),
        (["--mem"], "Option '--mem' requires an argument"),
    ],
)
def test_bad_values_are_refused_before_anything_exists(
    tmp_path: Path, args: list[str], words: str
) -> None:
    line = _refusal(tmp_path, [*args, "--", "true"] if args[-1:] != ["--mem"] else args)

    assert words in line


@pytest.mark.timeout(60)
@pytest.mark.parametrize("scheduler", ["slurm", "pbs"])
@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("-N", "a\nb"),
        ("-P", "ab12\nx"),
        ("-q", "nor\rmal"),
        ("-l", "ncpus=1\nmem=1GB"),
        ("--storage", "gdata/ab12\tx"),
        ("--scheduler-args", "--comment='a\nb'"),
    ],
)
def test_a_control_character_bound_for_a_directive_is_refused(
    tmp_path: Path, scheduler: str, option: str, value: str
) -> None:
    args = ["--scheduler", scheduler, "--dry", option, value, "--", "true"]

    line = _refusal(tmp_path, args)

    long_name = {"-N": "--name", "-P": "--project", "-q": "--queue", "-l": "--resources"}
    assert line.startswith(f"qxub: {long_name.get(option, option)}: ")
    assert "control character" in line


@pytest.mark.timeout(60)
def test_bad_configuration_is_refused_like_a_bad_option(tmp_path: Path) -> None:
    (tmp_path / ".qxub.yaml").write_text("walltime: 1h\n")

    line = _refusal(tmp_path, ["--", "true"])

    assert f"config file {tmp_path / '.qxub.yaml'}: unknown key 'walltime'" in line


@pytest.mark.timeout(60)
def test_help_shows_both_usages_and_the_job_options(tmp_path: Path) -> None:
    done = run_plain_qxub(["--help"], isolated_environ(tmp_path), tmp_path)
    version = run_plain_qxub(["--version"], isolated_environ(tmp_path), tmp_path)

    text = done.stdout.decode()
    assert done.returncode == 0
    assert text.startswith("Usage: qxub [OPTIONS] -- COMMAND [ARGS]...\n")
    assert "qxub config list|get|set|path" in text
    for option in ("--mem SIZE", "--runtime, --walltime TIME", "--sif IMAGE", "--version"):
        assert option in text
    assert version.stdout.decode().startswith("qxub ")


def test_help_imports_nothing_heavy() -> None:
    probe = (
        "import sys\n"
        "from qxub_core.cli import _invoke\n"
        "_invoke(['--help'])\n"
        "heavy = {'yaml', 'rich', 'pluggy', 'qxub_core.job', 'qxub_core.monitor', 'platformdirs'}\n"
        "print(sorted(heavy & set(sys.modules)))\n"
    )

    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )

    assert done.stdout.splitlines()[-1] == "[]"


def _dry_run(tmp_path: Path, scheduler: str) -> str:
    work = tmp_path / "project"
    work.mkdir()
    args = [
        "--scheduler",
        scheduler,
        "--dry",
        "-N",
        "train",
        "-P",
        "a00",
        "--cpus",
        "4",
        "--mem",
        "16GB",
        "--runtime",
        "2h",
        "--var",
        "STAGE=fit",
        "--mod",
        "python3/3.11",
        "--",
        "python3",
        "train.py",
        "two words",
        "$HOME",
    ]

    done = run_plain_qxub(args, isolated_environ(tmp_path), work)

    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    assert not (tmp_path / "jobs").exists()
    text = done.stdout.decode()
    text = JOB_DIR_PATTERN.sub(r"<JOB_ROOT>/<STAMP>-\1-<RANDOM>", text)
    return text.replace(str(work), "<WORKDIR>")


@pytest.mark.timeout(60)
def test_dry_run_on_pbs_prints_the_script_and_qsub_command(tmp_path: Path) -> None:
    text = _dry_run(tmp_path, "pbs")

    assert text.endswith("# qsub <JOB_ROOT>/<STAMP>-train-<RANDOM>/job.sh\n")
    assert_matches_golden("dry-pbs.txt", text)


@pytest.mark.timeout(60)
def test_dry_run_on_local_prints_the_script_and_supervisor_command(tmp_path: Path) -> None:
    text = re.sub(r"\n# \S+ -m ", "\n# <PYTHON> -m ", _dry_run(tmp_path, "local"))

    assert "\n# <PYTHON> -m qxub_core.schedulers.local_supervisor --job-dir" in text
    assert_matches_golden("dry-local.txt", text)


# End to end on every backend the tests can reach --------------------------------------------

ROUND_TRIP_ARGUMENTS = [
    "two words",
    " leading and trailing ",
    "it's",
    '"double"',
    "$HOME",
    "${PATH}",
    "`id`",
    "$(id)",
    "*",
    "?",
    "[a]",
    "~",
    ";",
    "&&",
    "|",
    ">x",
    "\\",
    "a\nb",
    "\t",
    "",
    "--",
    "-n",
    "naïve ☃ 日本",
    os.fsdecode(b"caf\xe9 \xff\xfe"),
]


@pytest.mark.timeout(180)
def test_arguments_reach_the_job_byte_for_byte(run_qxub: RunQxub) -> None:
    done = run_qxub(["--", "printf", "%s\\0", *ROUND_TRIP_ARGUMENTS])

    assert done.returncode == 0, done.stderr
    assert done.stdout.split(b"\0")[:-1] == [os.fsencode(word) for word in ROUND_TRIP_ARGUMENTS]
    assert done.stderr == b""


@pytest.mark.timeout(180)
def test_shell_line_is_run_by_bash_on_purpose(run_qxub: RunQxub) -> None:
    done = run_qxub(["--shell", "printf 'b\\na\\n' | sort; exit 5"])

    assert (done.returncode, done.stdout) == (5, b"a\nb\n")


@pytest.mark.timeout(180)
def test_execdir_vars_and_output_copies(run_qxub: RunQxub, tmp_path: Path) -> None:
    workdir = tmp_path / "elsewhere"
    workdir.mkdir()
    line = 'pwd; echo "$GREETING|$EMPTY|"; echo to-err >&2'
    args = ["--execdir", str(workdir), "--var", "GREETING=a b=c", "--var", "EMPTY="]
    copies = ["--out", "copy.out", "--err", str(tmp_path / "copy.err")]

    done = run_qxub([*args, *copies, "--", "bash", "-c", line])

    assert done.returncode == 0, done.stderr
    assert done.stdout == f"{workdir}\na b=c||\n".encode()
    assert done.stderr == b"to-err\n"
    assert (tmp_path / "copy.out").read_bytes() == done.stdout
    assert (tmp_path / "copy.err").read_bytes() == b"to-err\n"


@pytest.mark.timeout(180)
def test_submitting_environment_is_the_jobs_unless_clean(
    run_qxub: RunQxub, backend: Backend, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".profile").write_text("export FROM_PROFILE=yes\n")
    extra = {"HOME": str(home), "FROM_PROMPT": "prompt value"}
    line = 'printf "%s|%s" "$FROM_PROMPT" "$FROM_PROFILE"'

    default = run_qxub(["--", "bash", "-c", line], extra_env=extra)
    clean = run_qxub(["--clean-env", "--", "bash", "-c", line], extra_env=extra)

    assert default.stdout == b"prompt value|"
    if backend.name in CLUSTER_BACKENDS:
        # A real scheduler's login environment takes HOME from the password database.
        assert clean.stdout.startswith(b"|")
    else:
        assert clean.stdout == b"|yes"


@pytest.mark.timeout(180)
def test_failing_context_exits_125_with_one_reason_line(run_qxub: RunQxub, tmp_path: Path) -> None:
    done = run_qxub(["--env", "missing-env", "--", "echo", "ran"], extra_env=_no_conda(tmp_path))

    assert done.returncode == 125
    assert done.stdout == b""
    reasons = [line for line in done.stderr.decode().splitlines() if line.startswith("qxub: job")]
    assert len(reasons) == 1
    assert "conda not found" in reasons[0]


@pytest.mark.timeout(180)
def test_debug_logging_names_each_step_on_stderr(run_qxub: RunQxub) -> None:
    quiet = run_qxub(["--", "true"])
    logged = run_qxub(["--", "true"], extra_env={"QXUB_LOG_LEVEL": "DEBUG"})

    assert quiet.stderr == b""
    log = logged.stderr.decode()
    assert logged.returncode == 0
    for step in ("job script", "submitting", "final status file seen", "exit code 0"):
        assert step in log, step
    assert logged.stdout == b""


@pytest.mark.timeout(180)
def test_unknown_log_level_is_one_warning_and_the_job_still_runs(run_qxub: RunQxub) -> None:
    done = run_qxub(["--", "echo", "ran"], extra_env={"QXUB_LOG_LEVEL": "chatty"})

    assert (done.returncode, done.stdout) == (0, b"ran\n")
    assert done.stderr.decode().splitlines() == [
        "qxub WARNING qxub_core.logs: QXUB_LOG_LEVEL=chatty is not a log level; using WARNING"
    ]


def _no_conda(tmp_path: Path) -> dict[str, str]:
    """CONDA_EXE naming a conda that is not there: the job script tries it and finds nothing."""
    return {"CONDA_EXE": str(tmp_path / "no-conda" / "conda")}
