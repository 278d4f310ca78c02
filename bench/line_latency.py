"""A line written by the job to the same line on qxub's stdout, median (target < 0.2 s).

The job writes lines holding their own write time, spaced out; the benchmark reads qxub's stdout
as it arrives and notes each line's arrival.
"""

from __future__ import annotations

import subprocess
import sys
import time

from qxub_process import job_root, report, start_qxub

LINES = 40
WRITER = (
    "import random, time\n"
    f"for _ in range({LINES}):\n"
    "    time.sleep(random.uniform(0.05, 0.35))\n"
    "    print(time.time(), flush=True)\n"
)


def main() -> None:
    process = start_qxub(["--", sys.executable, "-c", WRITER], job_root(), stdout=subprocess.PIPE)
    assert process.stdout is not None
    samples = []
    for line in process.stdout:
        samples.append(time.time() - float(line))
    process.wait(timeout=120)
    report("job's line -> qxub's stdout", samples, target="< 0.2 s")


if __name__ == "__main__":
    main()
