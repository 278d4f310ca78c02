"""Through the PBS emulator: the job's last write to qxub's exit, median over runs (< 0.1 s).

The job's last act is to print the time; the benchmark notes when qxub has exited. qsub,
the emulator's MoM and qstat play no part in that path: the job script's final status file ends
the job for qxub, so the figure is the status-file protocol's, as on a real PBS.
"""

from __future__ import annotations

import subprocess
import sys
import time

from pbs_emulator_env import new_root, pbs_bench_env, start_pbs_qxub
from qxub_process import report

RUNS = 20
LAST_WRITE = "import time; time.sleep(0.5); print(time.time(), flush=True)"


def one_run() -> float:
    env = pbs_bench_env(new_root())
    process = start_pbs_qxub(["--", sys.executable, "-c", LAST_WRITE], env, stdout=subprocess.PIPE)
    stdout, _ = process.communicate(timeout=120)
    exited_at = time.time()
    return exited_at - float(stdout.split()[-1])


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else RUNS
    samples = [one_run() for _ in range(runs)]
    report("PBS emulator: job's last write -> qxub exit", samples, target="< 0.1 s")


if __name__ == "__main__":
    main()
