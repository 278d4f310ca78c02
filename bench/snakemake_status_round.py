"""Time one Snakemake status round over many active jobs, and count the scheduler commands.

Makes job directories as a running workflow would have them (started, no final status file),
follows them with the executor's status rounds, and runs rounds as Snakemake's status thread
does. Every process started during the rounds is counted, so a scheduler query would show.

    python bench/snakemake_status_round.py [--jobs 1000] [--rounds 20] [--scheduler pbs]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from qxub_core.monitor import MonitorSettings
from qxub_core.schedulers import make_scheduler
from qxub_core.status import started_path
from snakemake_executor_plugin_qxub.status import StatusRounds


class ProcessCounter:
    """Counts every process started through ``subprocess`` while installed."""

    def __init__(self) -> None:
        self.commands: list[str] = []
        self._original = subprocess.Popen.__init__

    def install(self) -> None:
        original = self._original
        commands = self.commands

        def counting_init(
            popen: subprocess.Popen[bytes], args: object, *rest: object, **kw: object
        ) -> None:
            commands.append(str(args))
            original(popen, args, *rest, **kw)  # type: ignore[arg-type]

        subprocess.Popen.__init__ = counting_init  # type: ignore[method-assign]

    def remove(self) -> None:
        subprocess.Popen.__init__ = self._original  # type: ignore[method-assign]


def make_running_jobs(job_root: Path, count: int) -> list[tuple[str, Path]]:
    jobs = []
    for number in range(count):
        job_id = f"{1000 + number}.bench"
        job_dir = job_root / f"20260101-000000-snakejob.rule.{number}-bench"
        job_dir.mkdir(parents=True, mode=0o700)
        started_path(job_dir, job_id).write_text(f"{time.time()} node01 {job_id}\n")
        jobs.append((job_id, job_dir))
    return jobs


def time_rounds(
    rounds: StatusRounds, job_ids: list[str], count: int
) -> tuple[list[float], list[float]]:
    """Wall-clock and CPU seconds of each round (CPU time is what a busy machine cannot inflate)."""
    wall_s: list[float] = []
    cpu_s: list[float] = []
    for _ in range(count):
        started_s, started_cpu_s = time.perf_counter(), time.process_time()
        ended = rounds.run_round(job_ids)
        wall_s.append(time.perf_counter() - started_s)
        cpu_s.append(time.process_time() - started_cpu_s)
        assert not ended, "a job ended during the bench"
    return wall_s, cpu_s


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--scheduler", default="pbs", choices=("local", "pbs", "slurm"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="qxub-bench-") as temporary:
        jobs = make_running_jobs(Path(temporary), args.jobs)
        scheduler = make_scheduler(args.scheduler, {"job_root": temporary})
        rounds = StatusRounds(scheduler, MonitorSettings(fallback_interval_s=60.0))
        for job_id, job_dir in jobs:
            rounds.follow(job_id, job_dir)
        job_ids = [job_id for job_id, _ in jobs]

        counter = ProcessCounter()
        counter.install()
        try:
            first_s = time_rounds(rounds, job_ids, 1)[0][0]
            times_s, cpu_s = time_rounds(rounds, job_ids, args.rounds)
        finally:
            counter.remove()

    print(f"status round over {args.jobs} active jobs ({args.scheduler} adapter)")
    print(f"  first round (takes the jobs in): {first_s * 1000:.1f} ms")
    print(f"  median of {args.rounds} rounds:      {statistics.median(times_s) * 1000:.1f} ms")
    print(f"  slowest round:                 {max(times_s) * 1000:.1f} ms")
    print(f"  median CPU time of a round:    {statistics.median(cpu_s) * 1000:.1f} ms")
    print(f"  load average (1 min):          {os.getloadavg()[0]:.1f}")
    print(f"  scheduler commands run:        {len(counter.commands)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
