"""The job script: golden renderings, and the status-file protocol proved by running it."""

from __future__ import annotations

import os
import pwd
import signal
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest
from golden_files import assert_matches_golden
from script_runner import JOB_ID, prepare_job, run_job, start_job, wait_for_start, with_environment

from qxub_core.context import build_context
from qxub_core.hooks import hookimpl
from qxub_core.plugins import Plugins
from qxub_core.schedulers.local import LocalScheduler
from qxub_core.script import render_script
from qxub_core.spec import JobSpec, Resources

FIXED_JOB_DIR = Path("/jobs/20260101-000000-demo-0123abcd")
FIXED_WORKDIR = Path("/home/user/project")

GOLDEN_SPECS = {
    "local-minimal.sh": JobSpec(command=("python3", "-c", 'print("hello")'), workdir=FIXED_WORKDIR),
    "local-full.sh": JobSpec(
        command=("python3", "train.py", "--lr", "0.1", "two words", "$HOME", ""),
        name="train",
        project="a00",
        queue="normal",
        resources=Resources(cpus=4, mem_bytes=16 * 1024**3, walltime_s=7200),
        context=build_context(modules=("python3/3.11", "cuda/12")),
        workdir=FIXED_WORKDIR,
        variables={"OMP_NUM_THREADS": "4", "GREETING": "it's here"},
        out_copy=Path("/home/user/train.out"),
        err_copy=Path("/home/user/train.err"),
    ),
    "local-shell-clean-env.sh": JobSpec(
        command=("sort data.txt | uniq -c > counts.txt",),
        shell=True,
        clean_env=True,
        workdir=FIXED_WORKDIR,
        variables={"LC_ALL": "C"},
    ),
    "local-conda.sh": JobSpec(
        command=("snakemake", "-j", "1"),
        context=build_context(conda_env="pipes"),
        workdir=FIXED_WORKDIR,
    ),
    "local-singularity.sh": JobSpec(
        command=("python3", "/work/run.py"),
        context=build_context(
            modules=("singularity",), image="/images/tools.sif", binds=("/scratch", "/data:/in:ro")
        ),
        workdir=FIXED_WORKDIR,
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_SPECS))
def test_rendered_script_matches_golden(name: str) -> None:
    text = render_script(GOLDEN_SPECS[name], LocalScheduler(), FIXED_JOB_DIR)

    assert_matches_golden(name, text)


def test_bash_accepts_every_golden_script(tmp_path: Path) -> None:
    for name, spec in GOLDEN_SPECS.items():
        script = tmp_path / name
        script.write_text(render_script(spec, LocalScheduler(), FIXED_JOB_DIR))

        subprocess.run(["bash", "-n", str(script)], check=True, timeout=30)


def test_normal_exit_writes_started_then_final_with_the_commands_code(tmp_path: Path) -> None:
    spec = with_environment(JobSpec(command=("bash", "-c", "echo out; echo err >&2; exit 3")))

    returncode, final = run_job(tmp_path / "job", spec)

    assert returncode == 3
    assert final == "3\n"
    started = (tmp_path / "job" / f"job_started_{JOB_ID}").read_text().split()
    assert started[1:] == [os.uname().nodename, JOB_ID]
    assert float(started[0]) > 0
    assert (tmp_path / "job" / "out").read_bytes() == b"out\n"
    assert (tmp_path / "job" / "err").read_bytes() == b"err\n"


def test_final_file_replaces_by_rename_and_leaves_no_temporary(tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    final = job_dir / f"final_exit_code_{JOB_ID}"
    final.write_text("stale\n")
    witness = tmp_path / "witness"
    os.link(final, witness)

    run_job(job_dir, with_environment(JobSpec(command=("true",))))

    assert final.read_text() == "0\n"
    assert witness.read_text() == "stale\n"
    assert sorted(path.name for path in job_dir.iterdir() if path.name.startswith(".")) == []


def test_arguments_reach_the_command_byte_for_byte(tmp_path: Path) -> None:
    arguments = [
        "two words",
        "it's",
        '"double"',
        "$HOME",
        "`id`",
        "$(id)",
        "*",
        ";",
        "a\nb",
        "",
        "naïve ☃",
        os.fsdecode(b"\xff\xfe raw"),
        "-n",
    ]
    spec = with_environment(JobSpec(command=("printf", "%s\\0", *arguments)))

    run_job(tmp_path / "job", spec)

    written = (tmp_path / "job" / "out").read_bytes()
    assert written.split(b"\0")[:-1] == [os.fsencode(argument) for argument in arguments]


def test_shell_line_runs_in_bash_on_purpose(tmp_path: Path) -> None:
    spec = with_environment(JobSpec(command=("printf 'b\\na\\n' | sort",), shell=True))

    run_job(tmp_path / "job", spec)

    assert (tmp_path / "job" / "out").read_bytes() == b"a\nb\n"


def test_environment_is_restored_and_vars_applied_on_top(tmp_path: Path) -> None:
    spec = JobSpec(
        command=("bash", "-c", 'printf "%s|%s" "$QXUB_TEST_CAPTURED" "$QXUB_TEST_VAR"'),
        environment={**os.environ, "QXUB_TEST_CAPTURED": "from prompt", "QXUB_TEST_VAR": "old"},
        variables={"QXUB_TEST_VAR": "new value"},
    )

    run_job(tmp_path / "job", spec, environ={"PATH": os.environ["PATH"]})

    assert (tmp_path / "job" / "out").read_text() == "from prompt|new value"


def test_clean_env_starts_from_the_login_profile_plus_vars(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".profile").write_text("export QXUB_TEST_PROFILE=from-profile\n")
    spec = JobSpec(
        command=("bash", "-c", 'printf "%s|%s|%s" "$QXUB_TEST_PROFILE" "$QXUB_TEST_SUBMIT" "$X"'),
        clean_env=True,
        variables={"X": "var"},
    )
    environ = {"PATH": os.environ["PATH"], "HOME": str(home), "QXUB_TEST_SUBMIT": "leaked"}

    run_job(tmp_path / "job", spec, environ=environ)

    assert (tmp_path / "job" / "out").read_text() == "from-profile||var"


def test_workdir_is_entered_and_a_missing_one_means_never_ran(tmp_path: Path) -> None:
    ran = with_environment(JobSpec(command=("pwd",), workdir=tmp_path))
    missing = replace(ran, workdir=tmp_path / "gone")

    run_job(tmp_path / "ok", ran)
    returncode, final = run_job(tmp_path / "bad", missing)

    assert (tmp_path / "ok" / "out").read_text() == f"{tmp_path}\n"
    assert returncode == 125
    assert final.splitlines() == [
        "125",
        f"context: cannot change to the working directory {missing.workdir}",
    ]


def test_failing_context_stops_before_the_command(tmp_path: Path) -> None:
    spec = with_environment(
        JobSpec(command=("touch", str(tmp_path / "ran")), context=build_context(conda_env="x"))
    )
    environ = {**os.environ, "CONDA_EXE": str(tmp_path / "no-conda")}

    returncode, final = run_job(tmp_path / "job", spec, environ)

    assert returncode == 125
    assert final.startswith("125\ncontext: conda not found")
    assert "qxub: conda not found" in (tmp_path / "job" / "err").read_text()
    assert not (tmp_path / "ran").exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "number"), [("TERM", 15), ("INT", 2), ("HUP", 1)])
def test_signal_writes_final_then_script_dies_by_it(tmp_path: Path, name: str, number: int) -> None:
    job_dir = tmp_path / "job"
    marker = tmp_path / "child-gone"
    line = f"trap 'touch {marker}; exit 1' {name}; echo ready; while :; do sleep 0.05; done"
    process = start_job(job_dir, with_environment(JobSpec(command=(line,), shell=True)))
    wait_for_start(job_dir)
    while b"ready" not in _bytes_or_none(job_dir / "out"):
        time.sleep(0.02)

    process.send_signal(number)

    assert process.wait(timeout=30) == -number
    assert (
        job_dir / f"final_exit_code_{JOB_ID}"
    ).read_text() == f"{128 + number}\nsignal: {name}\n"
    assert marker.exists()


@pytest.mark.timeout(60)
@pytest.mark.parametrize(("name", "number"), [("TERM", 15), ("INT", 2), ("HUP", 1)])
@pytest.mark.parametrize("handling", ["''", "'echo carries-on'"])
def test_signal_ends_a_command_that_ignores_it_or_carries_on(
    tmp_path: Path, name: str, number: int, handling: str
) -> None:
    job_dir = tmp_path / "job"
    line = f"trap {handling} INT HUP TERM; echo $$; while :; do sleep 0.05; done"
    process = start_job(job_dir, with_environment(JobSpec(command=(line,), shell=True)))
    wait_for_start(job_dir)
    while not _bytes_or_none(job_dir / "out").endswith(b"\n"):
        time.sleep(0.02)
    command_pid = int((job_dir / "out").read_bytes().split()[0])

    process.send_signal(number)

    assert process.wait(timeout=30) == -number
    assert (
        job_dir / f"final_exit_code_{JOB_ID}"
    ).read_text() == f"{128 + number}\nsignal: {name}\n"
    with pytest.raises(ProcessLookupError):
        os.kill(command_pid, 0)


@pytest.mark.timeout(60)
def test_sigterm_to_the_whole_group_ends_the_command_too(tmp_path: Path) -> None:
    job_dir = tmp_path / "job"
    process = start_job(job_dir, with_environment(JobSpec(command=("sleep", "300"))))
    wait_for_start(job_dir)

    os.killpg(process.pid, signal.SIGTERM)

    assert process.wait(timeout=30) == -signal.SIGTERM
    assert (job_dir / f"final_exit_code_{JOB_ID}").read_text() == "143\nsignal: TERM\n"
    with pytest.raises(ProcessLookupError):
        os.killpg(process.pid, 0)


def test_output_copies_are_made_before_the_final_file(tmp_path: Path) -> None:
    spec = with_environment(
        JobSpec(
            command=("bash", "-c", "echo to-out; echo to-err >&2"),
            out_copy=tmp_path / "copy.out",
            err_copy=tmp_path / "copy.err",
        )
    )

    run_job(tmp_path / "job", spec)

    assert (tmp_path / "copy.out").read_bytes() == b"to-out\n"
    assert (tmp_path / "copy.err").read_bytes() == b"to-err\n"


def test_script_without_its_job_id_refuses_to_run(tmp_path: Path) -> None:
    script = prepare_job(tmp_path / "job", with_environment(JobSpec(command=("true",))))
    environ = {key: value for key, value in os.environ.items() if key != "QXUB_LOCAL_JOB_ID"}

    done = subprocess.run(["bash", str(script)], env=environ, timeout=30)

    assert done.returncode == 125
    assert "QXUB_LOCAL_JOB_ID is not set" in (tmp_path / "job" / "err").read_text()


@pytest.mark.parametrize(
    ("program", "expected_code", "expected_message"),
    [
        ("qxub-no-such-command", 127, "qxub: qxub-no-such-command: command not found"),
        ("./no-such-file", 127, "qxub: ./no-such-file: No such file or directory"),
        ("./not-executable", 126, "qxub: ./not-executable: Permission denied"),
        ("./a-directory", 126, "qxub: ./a-directory: Is a directory"),
    ],
)
def test_a_command_that_cannot_start_is_named_as_at_a_prompt(
    tmp_path: Path, program: str, expected_code: int, expected_message: str
) -> None:
    workdir = tmp_path / "work"
    (workdir / "a-directory").mkdir(parents=True)
    (workdir / "not-executable").write_text("echo never\n")
    spec = JobSpec(command=(program, "an argument"), workdir=workdir)

    returncode, final = run_job(tmp_path / "job", with_environment(spec))

    assert (returncode, final) == (expected_code, f"{expected_code}\n")
    assert (tmp_path / "job" / "err").read_text() == expected_message + "\n"


class SitePlugin:
    """A plugin adding prologue and epilogue lines, as a site would."""

    def __init__(self, record: Path) -> None:
        self.record = record

    @hookimpl
    def qxub_prologue(self, spec: JobSpec, scheduler: str) -> list[str]:
        return ["echo prologue-says-hi", "QXUB_TEST_LEAK=1", "cd /", "exit 7"]

    @hookimpl
    def qxub_epilogue(self, spec: JobSpec, scheduler: str) -> list[str]:
        return [f'echo "$QXUB_EXIT_CODE $QXUB_TEST_LEAK" > {self.record}', "exit 9"]


def test_plugin_prologue_and_epilogue_cannot_change_the_job(tmp_path: Path) -> None:
    plugins = Plugins(entry_points=False)
    plugins.register(SitePlugin(tmp_path / "epilogue-saw"))
    command = 'echo "$PWD $QXUB_TEST_LEAK"; exit 4'
    spec = with_environment(JobSpec(command=(command,), shell=True, workdir=tmp_path))

    returncode, final = run_job(tmp_path / "job", spec, plugins=plugins)

    assert (returncode, final) == (4, "4\n")
    assert (tmp_path / "job" / "out").read_text() == f"{tmp_path} \n"
    assert (tmp_path / "job" / "err").read_text() == "prologue-says-hi\n"
    assert (tmp_path / "epilogue-saw").read_text() == "4 \n"


def _bytes_or_none(path: Path) -> bytes:
    """The file's bytes, or none while the job has not created it yet."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return b""


def test_clean_env_fills_in_who_the_user_is_when_the_scheduler_gives_nothing(
    tmp_path: Path,
) -> None:
    """Only HOME is given, a private one, so that no profile of this machine's user is read."""
    entry = pwd.getpwuid(os.getuid())
    home = tmp_path / "home"
    home.mkdir()
    (home / ".profile").write_text("export QXUB_TEST_PROFILE=private\n")
    line = 'printf "%s|%s|%s|%s|%s" "$HOME" "$USER" "$LOGNAME" "$SHELL" "$QXUB_TEST_PROFILE"'
    spec = JobSpec(command=("bash", "-c", line), clean_env=True, workdir=tmp_path)

    run_job(tmp_path / "job", spec, environ={"HOME": str(home)})

    expected = f"{home}|{entry.pw_name}|{entry.pw_name}|{entry.pw_shell}|private"
    assert (tmp_path / "job" / "out").read_text() == expected
