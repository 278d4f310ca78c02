"""The job's last write to qxub's exit, median over runs on the local backend (target < 0.1 s).

The job's last act is to print the time; the benchmark notes when qxub has exited.
"""

from __future__ import annotations

import subprocess
import sys
import time

from qxub_process import job_root, report, start_qxub

RUNS = 20
LAST_WRITE = "import time; time.sleep(0.5); print(time.time(), flush=True)"


def one_run() -> float:
    process = start_qxub(
        ["--", sys.executable, "-c", LAST_WRITE], job_root(), stdout=subprocess.PIPE
    )
    stdout, _ = process.communicate(timeout=120)
    exited_at = time.time()
    return exited_at - float(stdout.split()[-1])


def main() -> None:
    samples = [one_run() for _ in range(RUNS)]
    report("job's last write -> qxub exit", samples, target="< 0.1 s")


if __name__ == "__main__":
    main()
