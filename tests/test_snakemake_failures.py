"""How the executor handles jobs that fail, die, are retried, or are cancelled with Ctrl-C."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import pytest
from conftest import Backend, wait_for
from snakemake_workflow import (
    MIB,
    WORKFLOW_TIMEOUT_S,
    job_dirs,
    requested_mem_bytes,
    run_snakemake,
    snakemake_command,
    write_snakefile,
)

pytestmark = pytest.mark.timeout(WORKFLOW_TIMEOUT_S + 60)

PBS_EMULATOR = Path(__file__).resolve().parent / "pbs_emulator"


def test_an_invalid_resource_fails_only_its_job(
    backend: Backend, tmp_path: Path, job_root: Path
) -> None:
    write_snakefile(
        tmp_path / "wf",
        """
        rule all:
            input: "good.txt", "bad.txt"

        rule good:
            output: "good.txt"
            shell: "echo fine | tee {output}"

        rule bad:
            output: "bad.txt"
            resources: qxub_resources="jobfs"
            shell: "echo never > {output}"
        """,
    )

    done = run_snakemake(backend, tmp_path / "wf", ["--keep-going", "--qxub-keep-successful-logs"])

    assert done.returncode != 0
    assert (tmp_path / "wf" / "good.txt").read_text() == "fine\n"
    assert not (tmp_path / "wf" / "bad.txt").exists()
    assert "invalid resource in bad: qxub_resources: 'jobfs' is not of the form key=value" in (
        done.stderr
    )
    assert "Traceback" not in done.stderr
    assert job_dirs(job_root, "bad") == []
    (good_log,) = (tmp_path / "wf" / ".snakemake" / "qxub_logs" / "good").glob("*/*.log")
    assert "\nfine\n" in good_log.read_text()


def test_a_job_killed_without_status_file_is_found_through_the_fallback(
    backend: Backend, tmp_path: Path, job_root: Path
) -> None:
    # SIGKILL to the job's whole process group: the job script dies before writing anything.
    write_snakefile(
        tmp_path / "wf",
        """
        rule killed:
            output: "never.txt"
            shell: "kill -KILL 0"
        """,
    )

    done = run_snakemake(backend, tmp_path / "wf")

    assert done.returncode != 0
    (job_dir,) = job_dirs(job_root, "killed")
    assert not list(job_dir.glob("final_exit_code_*"))
    assert "failed: exit code 137" in done.stderr
    log = tmp_path / "wf" / ".snakemake" / "qxub_logs" / "killed" / "no-wildcards"
    assert len(list(log.glob("*.log"))) == 1


def test_a_retry_is_a_new_scheduler_job_with_the_grown_resources(
    backend: Backend, tmp_path: Path, job_root: Path
) -> None:
    write_snakefile(
        tmp_path / "wf",
        """
        rule grows:
            output: "grown.txt"
            retries: 1
            resources: mem_mb=lambda wildcards, attempt: 100 * attempt
            shell:
                "if [ {resources.mem_mb} -lt 200 ]; then echo 'needs 200 MB' >&2; exit 3; fi; "
                "echo {resources.mem_mb} > {output}"
        """,
    )

    done = run_snakemake(backend, tmp_path / "wf")

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "wf" / "grown.txt").read_text() == "200\n"
    first, second = job_dirs(job_root, "grows")
    wait_for(lambda: None not in map(requested_mem_bytes, (first, second)), 30, "the requests")
    assert requested_mem_bytes(first) == 100 * MIB
    assert requested_mem_bytes(second) == 200 * MIB
    ids = [path.name for job_dir in (first, second) for path in job_dir.glob("job_started_*")]
    assert len(set(ids)) == 2
    assert "failed: exit code 1" in done.stderr


def test_ctrl_c_cancels_every_job_and_snakemake_exits(
    backend: Backend, tmp_path: Path, job_root: Path
) -> None:
    workdir = tmp_path / "wf"
    write_snakefile(
        workdir,
        """
        rule all:
            input: expand("slept/{i}.txt", i=range(3))

        rule sleeper:
            output: "slept/{i}.txt"
            shell: "echo $$ > pid.{wildcards.i}; sleep 120; touch {output}"
        """,
    )
    stderr_path = tmp_path / "snakemake.err"
    with open(stderr_path, "w") as stderr_file:
        process = subprocess.Popen(
            snakemake_command(backend),
            cwd=workdir,
            env=backend.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
            preexec_fn=_as_at_a_prompt,
        )
    try:
        pid_files = [workdir / f"pid.{i}" for i in range(3)]
        wait_for(lambda: all(_has_text(path) for path in pid_files), 120, "three running jobs")
        pids = [int(path.read_text()) for path in pid_files]

        process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = stderr_path.read_text()

    assert "cancelling 3 job(s)" in stderr
    wait_for(lambda: not any(_alive(pid) for pid in pids), 60, "the jobs' processes to end")
    assert not list(workdir.glob("slept/*"))


def _as_at_a_prompt() -> None:
    """SIGINT as a command typed at a terminal has it (a test run in the background of a
    non-interactive shell starts with it ignored, and its children inherit that)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _has_text(path: Path) -> bool:
    return path.exists() and path.read_text().strip() != ""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_transiently_refused_submission_is_tried_again(
    qxub_env: dict[str, str], tmp_path: Path, job_root: Path
) -> None:
    # The PBS emulator's qsub cannot reach its server twice, then accepts.
    emulator_home = tmp_path / "pbs"
    (emulator_home / "faults").mkdir(parents=True)
    (emulator_home / "faults" / "qsub_failures").write_text("2")
    env = {
        **qxub_env,
        "PBS_EMULATOR_HOME": str(emulator_home),
        "PATH": f"{PBS_EMULATOR}:{qxub_env['PATH']}",
    }
    write_snakefile(
        tmp_path / "wf",
        """
        rule once:
            output: "done.txt"
            shell: "echo done > {output}"
        """,
    )

    done = run_snakemake(Backend("pbs", env), tmp_path / "wf")

    assert done.returncode == 0, done.stderr
    assert (tmp_path / "wf" / "done.txt").read_text() == "done\n"
    assert (emulator_home / "faults" / "qsub_failures").read_text() == "0"
    assert len(job_dirs(job_root, "once")) == 1


def test_a_failing_status_round_is_reported_and_the_run_goes_on(
    qxub_env: dict[str, str], tmp_path: Path, job_root: Path
) -> None:
    workdir = tmp_path / "wf"
    write_snakefile(
        workdir,
        """
        rule waits:
            output: "done.txt"
            shell: "while [ ! -e go ]; do sleep 0.1; done; echo done > {output}"
        """,
    )
    stderr_path = tmp_path / "snakemake.err"
    with open(stderr_path, "w") as stderr_file:
        process = subprocess.Popen(
            snakemake_command(Backend("local", qxub_env)),
            cwd=workdir,
            env=qxub_env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr_file,
        )
    try:
        # A directory where the final status file belongs makes every read of it fail.
        wait_for(lambda: len(list(job_root.glob("*/job_started_*"))) == 1, 120, "the job")
        (started,) = job_root.glob("*/job_started_*")
        blocker = started.with_name(started.name.replace("job_started_", "final_exit_code_"))
        blocker.mkdir()
        wait_for(lambda: "status check failed" in stderr_path.read_text(), 60, "a failed round")

        blocker.rmdir()
        (workdir / "go").touch()
        process.wait(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    stderr = stderr_path.read_text()

    assert process.returncode == 0, stderr
    assert stderr.count("status check failed") == 1
    assert "IsADirectoryError" in stderr
    assert "status checks work again" in stderr


def test_a_submission_the_scheduler_refuses_fails_its_job_in_one_line(
    qxub_env: dict[str, str], tmp_path: Path, job_root: Path
) -> None:
    (tmp_path / "pbs").mkdir()
    env = {
        **qxub_env,
        "PBS_EMULATOR_HOME": str(tmp_path / "pbs"),
        "PATH": f"{PBS_EMULATOR}:{qxub_env['PATH']}",
    }
    write_snakefile(
        tmp_path / "wf",
        """
        rule all:
            input: "good.txt", "bad.txt"

        rule good:
            output: "good.txt"
            shell: "echo fine > {output}"

        rule bad:
            output: "bad.txt"
            resources: qxub_queue="nosuchqueue"
            shell: "echo never > {output}"
        """,
    )

    done = run_snakemake(Backend("pbs", env), tmp_path / "wf", ["--keep-going"])

    assert done.returncode != 0
    assert (tmp_path / "wf" / "good.txt").read_text() == "fine\n"
    lines = [line.strip() for line in done.stderr.splitlines()]
    refusals = [line for line in lines if "submission refused" in line]
    assert refusals == ["message: qxub: submission refused: qsub: Unknown queue."], done.stderr
    assert "qsub -" not in done.stderr
