"""Collecting a PBS job's accounting after it ends, in a process that outlives qxub.

PBS records a job's final usage a moment after the job script's last write, when the job
reaches the finished state. qxub returns the prompt without waiting for that, so at submission
the adapter starts a small detached watcher: a shell loop (about a megabyte) that waits for the
job's final status file, asking ``qstat`` only every ten minutes in case the job was killed
before it could write one, and giving up after a day. It then runs this module, which asks
``qstat -fx`` until the job has finished and writes ``usage.json`` into the job directory. A job
directory that disappears ends the watch.
"""

from __future__ import annotations

import logging
import os
import shlex
import subprocess
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

POLL_S = 1.0
GIVE_UP_S = 600.0
QSTAT_EVERY_S = 600
LAUNCH_TIMEOUT_S = 30.0
WATCH_AT_MOST_S = 86400  # PBS sites keep finished jobs about a day; no record after that


def watcher_script(job_id: str, job_dir: Path) -> str:
    """The shell loop that waits for the job's end, then runs the collector."""
    directory, job = shlex.quote(str(job_dir)), shlex.quote(job_id)
    final = shlex.quote(str(job_dir / f"final_exit_code_{job_id}"))
    collector = f"{shlex.quote(sys.executable)} -m {__name__} {job} {directory}"
    return (
        "waited_s=0\n"
        f"while [ -d {directory} ] && [ ! -e {final} ] && [ $waited_s -lt {WATCH_AT_MOST_S} ]; do\n"
        "    sleep 1; waited_s=$((waited_s + 1))\n"
        f"    if [ $((waited_s % {QSTAT_EVERY_S})) -eq 0 ] &&\n"
        f"        qstat -x {job} 2>/dev/null | grep -q ' F '; then break; fi\n"
        "done\n"
        f"[ -d {directory} ] && exec {collector}\n"
    )


def start_collector(job_id: str, job_dir: Path) -> None:
    """Start the detached watcher for one job; it needs nothing from the caller afterwards.

    A shell that exits at once starts it in the background, so the watcher is no child of the
    caller: a long-lived caller (the Snakemake executor) keeps no process object to reap.
    """
    launcher = ["/bin/sh", "-c", '/bin/sh -c "$1" &', "qxub-pbs-accounting"]
    with open(os.devnull, "rb") as nothing_in, open(os.devnull, "wb") as nothing_out:
        try:
            subprocess.run(
                [*launcher, watcher_script(job_id, job_dir)],
                stdin=nothing_in,
                stdout=nothing_out,
                stderr=nothing_out,
                start_new_session=True,
                check=False,
                timeout=LAUNCH_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise OSError(f"the accounting watcher did not start within {exc.timeout}s") from exc


def collect(job_id: str, job_dir: Path, give_up_s: float = GIVE_UP_S) -> bool:
    """Wait for the job to finish in PBS's eyes, then write its usage record."""
    from qxub_core.schedulers.base import SchedulerError
    from qxub_core.schedulers.pbs import PbsScheduler, find_job, usage_from_qstat

    scheduler = PbsScheduler()
    deadline = time.monotonic() + give_up_s
    while time.monotonic() < deadline and job_dir.is_dir():
        try:
            jobs, _ = scheduler.read_qstat([job_id])
        except SchedulerError as exc:
            logger.debug("Job %s: accounting not readable yet: %s", job_id, exc)
            jobs = {}
        job = find_job(job_id, jobs)
        if job is not None and job.get("job_state") == "F":
            usage_from_qstat(job_id, job).save(job_dir)
            return True
        time.sleep(POLL_S)
    return False


if __name__ == "__main__":
    sys.exit(0 if collect(sys.argv[1], Path(sys.argv[2])) else 1)
