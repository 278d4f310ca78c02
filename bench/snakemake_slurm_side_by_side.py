"""``--executor qxub`` beside the published Slurm executor plugin, on the real test cluster.

For each executor: the wall time of a workflow of N independent one-second jobs and a gather
rule, the scheduler commands it ran (counted by wrappers put first on ``PATH``, inside jobs
too), then Ctrl-C during a workflow of N long jobs: the time until no job is pending or
running, until no job is listed at all, and until ``snakemake`` exits.

Needs the test cluster (``tests/cluster/slurm-up.sh``, then ``. tests/cluster/slurm-env.sh``)
and, for the comparison, ``snakemake-executor-plugin-slurm`` installed beside qxub:

    python bench/snakemake_slurm_side_by_side.py [--jobs 20] [--executors qxub,slurm,slurm-fast]

``scontrol show config`` is counted apart, as ``scontrol-show-config``: the published plugin runs
it whenever Snakemake loads it, in every Snakemake process, whichever executor was chosen.

``slurm`` is the published plugin with its defaults, ``slurm-fast`` with its first status
check after one second instead of forty.
"""

from __future__ import annotations

import argparse
import collections
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SLURM_COMMANDS = ("sbatch", "squeue", "sacct", "scancel", "scontrol", "sinfo", "sacctmgr", "srun")
EXECUTOR_ARGS = {
    "qxub": ["--executor", "qxub", "--qxub-scheduler", "slurm"],
    "slurm": ["--executor", "slurm"],
    "slurm-fast": ["--executor", "slurm", "--slurm-init-seconds-before-status-checks", "1"],
}
POLL_S = 0.05
SHUTDOWN_TIMEOUT_S = 180.0
RUNNING_AT_ONCE = 8  # the test cluster's node: 2 CPUs, each shared by up to 4 jobs
RUN_TIMEOUT_S = 900.0

WORKFLOW = """
rule all:
    input: "gathered.txt"

rule work:
    output: "work/{{i}}.txt"
    resources: runtime=10, mem_mb=200
    shell: "sleep {seconds}; echo {{wildcards.i}} > {{output}}"

rule gather:
    input: expand("work/{{i}}.txt", i=range({jobs}))
    output: "gathered.txt"
    resources: runtime=10, mem_mb=200
    shell: "cat {{input}} > {{output}}"
"""


def write_wrappers(directory: Path, log: Path) -> None:
    """One script per Slurm command: note the call in ``log``, then run the real command."""
    directory.mkdir(parents=True)
    for name in SLURM_COMMANDS:
        real = shutil.which(name)
        if real is None:
            continue
        wrapper = directory / name
        wrapper.write_text(
            f"#!/bin/sh\nentry={name}\n"
            # Loading the published plugin, installed beside qxub, asks for the configuration.
            'if [ "$1 $2" = "show config" ]; then entry="$entry-show-config"; fi\n'
            f'echo "$entry" >> "{log}"\n'
            # Inside a job Slurm drops the test cluster's SLURM_CONF, which srun needs.
            f'export SLURM_CONF="{os.environ["SLURM_CONF"]}"\n'
            f'exec "{real}" "$@"\n'
        )
        wrapper.chmod(0o755)


def count_calls(log: Path) -> collections.Counter[str]:
    if not log.exists():
        return collections.Counter()
    return collections.Counter(log.read_text().split())


def snakemake_command(executor: str, jobs: int) -> list[str]:
    snakemake = str(Path(sys.executable).with_name("snakemake"))
    return [snakemake, *EXECUTOR_ARGS[executor], "--jobs", str(jobs), "--latency-wait", "10"]


def prepare(
    base: Path, executor: str, jobs: int, seconds: int, tag: str
) -> tuple[Path, dict[str, str], Path]:
    workdir = base / f"{executor}-{tag}"
    workdir.mkdir(parents=True)
    (workdir / "Snakefile").write_text(textwrap.dedent(WORKFLOW.format(jobs=jobs, seconds=seconds)))

    log = workdir / "slurm-calls.log"
    write_wrappers(workdir / "wrappers", log)
    env = dict(os.environ)
    env["PATH"] = f"{workdir / 'wrappers'}:{env['PATH']}"
    env["QXUB_JOB_ROOT"] = str(workdir / "jobs")
    return workdir, env, log


def run_workflow(base: Path, executor: str, jobs: int) -> None:
    workdir, env, log = prepare(base, executor, jobs, 1, "run")
    started_s = time.monotonic()
    done = subprocess.run(
        snakemake_command(executor, jobs),
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    wall_s = time.monotonic() - started_s

    calls = count_calls(log)
    status = "ok" if done.returncode == 0 else f"FAILED ({done.returncode})"
    print(
        f"{executor:<11} workflow {status}: {wall_s:6.1f} s, "
        f"{sum(calls.values())} scheduler commands ({_format_calls(calls)})"
    )
    if done.returncode != 0:
        print(textwrap.indent(done.stderr[-3000:], "    "))


def ctrl_c(base: Path, executor: str, jobs: int) -> None:
    workdir, env, log = prepare(base, executor, jobs, 300, "ctrl-c")
    with open(workdir / "snakemake.err", "w") as stderr:
        process = subprocess.Popen(
            snakemake_command(executor, jobs),
            cwd=workdir,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
            preexec_fn=_as_at_a_prompt,
        )
    try:
        if not _wait(lambda: len(_listed_jobs(workdir, "R")) >= min(jobs, RUNNING_AT_ONCE), 300):
            print(f"{executor:<11} Ctrl-C: jobs never ran")
            return
        time.sleep(2)
        started_s = time.monotonic()
        process.send_signal(signal.SIGINT)
        gone_s, exited_s = _time_shutdown(process, workdir, started_s)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        _cancel_leftovers(workdir)

    calls = count_calls(log)
    print(
        f"{executor:<11} Ctrl-C: every job gone (none pending, running or completing) after "
        f"{_seconds(gone_s)}, snakemake exited after {_seconds(exited_s)} "
        f"({calls['scancel']} scancel call(s))"
    )


def _time_shutdown(
    process: subprocess.Popen[str], workdir: Path, started_s: float
) -> tuple[float | None, float | None]:
    """Seconds from Ctrl-C until the run's jobs are gone, and until snakemake has exited."""
    gone_s = exited_s = None
    deadline_s = started_s + SHUTDOWN_TIMEOUT_S
    while (gone_s is None or exited_s is None) and time.monotonic() < deadline_s:
        now_s = time.monotonic()
        if gone_s is None and not _listed_jobs(workdir, "PD,R,CF,CG"):
            gone_s = now_s - started_s
        if exited_s is None and process.poll() is not None:
            exited_s = now_s - started_s
        time.sleep(POLL_S)
    return gone_s, exited_s


def _seconds(value: float | None) -> str:
    return "(not within the timeout)" if value is None else f"{value:.2f} s"


def _as_at_a_prompt() -> None:
    """SIGINT as at a terminal, even when this bench runs in the background of a script."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _listed_jobs(workdir: Path, states: str) -> list[str]:
    """This run's jobs in squeue (their working directory is in the run's), by the real squeue."""
    command = ["squeue", "--noheader", "--format=%i %Z", f"--states={states}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=30)
    lines = [line.split(maxsplit=1) for line in done.stdout.splitlines()]
    return [
        fields[0] for fields in lines if len(fields) == 2 and fields[1].startswith(str(workdir))
    ]


def _cancel_leftovers(workdir: Path) -> None:
    leftovers = _listed_jobs(workdir, "all")
    if leftovers:
        subprocess.run(["scancel", *leftovers], timeout=30, check=False)


def _wait(condition: object, timeout_s: float) -> bool:
    deadline_s = time.monotonic() + timeout_s
    while time.monotonic() < deadline_s:
        if condition():  # type: ignore[operator]
            return True
        time.sleep(POLL_S)
    return False


def _format_calls(calls: collections.Counter[str]) -> str:
    return ", ".join(f"{name} {count}" for name, count in sorted(calls.items())) or "none"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20)
    parser.add_argument("--executors", default="qxub,slurm,slurm-fast")
    parser.add_argument("--skip-ctrl-c", action="store_true")
    parser.add_argument("--skip-workflow", action="store_true")
    args = parser.parse_args()
    if shutil.which("sbatch") is None or "SLURM_CONF" not in os.environ:
        print(
            "needs the Slurm test cluster: tests/cluster/slurm-up.sh; . tests/cluster/slurm-env.sh"
        )
        return 2

    executors = args.executors.split(",")
    with tempfile.TemporaryDirectory(prefix="qxub-side-by-side-") as temporary:
        base = Path(temporary)
        for executor in [] if args.skip_workflow else executors:
            run_workflow(base, executor, args.jobs)
        if not args.skip_ctrl_c:
            for executor in dict.fromkeys(name.partition("-")[0] for name in executors):
                ctrl_c(base, executor, args.jobs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
