"""The job's last write to qxub's exit, median over runs on the local backend (target < 0.1 s).

The job's last act is to print the time; the benchmark notes when qxub has exited. The figure is
also split at the moment the job script renamed its final status file into place: before it is
the job's own exit and the script's epilogue, after it is qxub noticing, draining and exiting.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from qxub_process import job_root, report, start_qxub

RUNS = 20
LAST_WRITE = "import time; time.sleep(0.5); print(time.time(), flush=True)"


def one_run() -> tuple[float, float]:
    """Seconds from the last write to qxub's exit, and from the final status file to the exit."""
    root = job_root()
    process = start_qxub(["--", sys.executable, "-c", LAST_WRITE], root, stdout=subprocess.PIPE)
    stdout, _ = process.communicate(timeout=120)
    exited_at = time.time()

    final_file = next(Path(root).glob("*/final_exit_code_*"))
    return exited_at - float(stdout.split()[-1]), exited_at - final_file.stat().st_mtime


def main() -> None:
    samples = [one_run() for _ in range(RUNS)]
    report("job's last write -> qxub exit", [whole for whole, _ in samples], target="< 0.1 s")
    report("  of which final status file -> qxub exit", [part for _, part in samples])


if __name__ == "__main__":
    main()
