"""The ``qxub`` command line: the ``--`` rule, refusals before anything exists, ``--dry``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from golden_files import assert_matches_golden
from qxub_process import isolated_environ, run_qxub

JOB_DIR_PATTERN = re.compile(r"/\S*/jobs/\d{8}-\d{6}-([A-Za-z0-9._+-]+)-[0-9a-f]{8}")


def _refusal(tmp_path: Path, args: list[str]) -> str:
    """Run ``qxub args`` expecting a usage refusal; its one stderr line."""
    done = run_qxub(args, isolated_environ(tmp_path), tmp_path)

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
        (["--var", "1ABC=x"], "--var: cannot read '1ABC=x'; use KEY=VALUE"),
        (["--var", "NOEQUALS"], "--var: cannot read 'NOEQUALS'"),
        (["--execdir", "/no/such/dir"], "--execdir: '/no/such/dir' is not an existing directory"),
        (["--out", "/no/such/dir/out.txt"], "--out: the directory of '/no/such/dir/out.txt'"),
        (["--err", "/"], "--err: '/' is a directory"),
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
def test_bad_configuration_is_refused_like_a_bad_option(tmp_path: Path) -> None:
    (tmp_path / ".qxub.yaml").write_text("walltime: 1h\n")

    line = _refusal(tmp_path, ["--", "true"])

    assert f"config file {tmp_path / '.qxub.yaml'}: unknown key 'walltime'" in line


@pytest.mark.timeout(60)
def test_help_shows_both_usages_and_the_job_options(tmp_path: Path) -> None:
    done = run_qxub(["--help"], isolated_environ(tmp_path), tmp_path)
    version = run_qxub(["--version"], isolated_environ(tmp_path), tmp_path)

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

    done = run_qxub(args, isolated_environ(tmp_path), work)

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
