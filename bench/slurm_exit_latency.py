"""The same short job through ``qxub --scheduler slurm``, ``sbatch --wait`` and ``srun``: median
seconds from the job's last write to the prompt coming back, side by side.

Needs the Slurm test cluster (``tests/cluster/slurm-up.sh``, then ``. tests/cluster/slurm-env.sh``).
qxub runs with its default intervals. The job's last act is to print the time; each run notes the
time its command returned. ``srun`` launches the step directly and is the floor; ``sbatch --wait``
is the usual way to block on a batch job (and shows no output until the end). Target for qxub:
under 0.1 s.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from qxub_process import QXUB, bench_env, report

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 10  # python3 slurm_exit_latency.py [RUNS]
LAST_WRITE = "import time; time.sleep(0.5); print(time.time(), flush=True)"
JOB = [sys.executable, "-c", LAST_WRITE]


def through_qxub(work: Path) -> float:
    command = [str(QXUB), "--scheduler", "slurm", "--", *JOB]
    done = subprocess.run(
        command, env=bench_env(work / "jobs"), cwd=work, capture_output=True, timeout=300
    )
    returned_at = time.time()

    return returned_at - _last_write(done, done.stdout.decode())


def through_sbatch_wait(work: Path) -> float:
    output = work / "sbatch.out"
    wrapped = " ".join(f"'{word}'" for word in JOB)
    command = ["sbatch", "--wait", "--quiet", f"--output={output}", f"--wrap={wrapped}"]
    done = subprocess.run(command, cwd=work, capture_output=True, timeout=300)
    returned_at = time.time()

    return returned_at - _last_write(done, output.read_text())


def through_srun(work: Path) -> float:
    done = subprocess.run(["srun", "--quiet", *JOB], cwd=work, capture_output=True, timeout=300)
    returned_at = time.time()

    return returned_at - _last_write(done, done.stdout.decode())


def _last_write(done: subprocess.CompletedProcess[bytes], output: str) -> float:
    if done.returncode != 0:
        raise SystemExit(f"{done.args[0]} failed ({done.returncode}): {done.stderr.decode()}")
    return float(output.split()[-1])


def main() -> None:
    if not os.environ.get("SLURM_CONF"):
        raise SystemExit("start the test cluster and source tests/cluster/slurm-env.sh first")

    ways: dict[str, Callable[[Path], float]] = {
        "qxub --scheduler slurm": through_qxub,
        "sbatch --wait": through_sbatch_wait,
        "srun": through_srun,
    }
    samples: dict[str, list[float]] = {name: [] for name in ways}
    for run in range(RUNS):  # interleaved, so that load on the machine touches all three alike
        for name, way in ways.items():
            samples[name].append(way(Path(tempfile.mkdtemp(prefix="qxub-bench-"))))
            print(f"run {run + 1}, {name}: {samples[name][-1]:.3f} s", flush=True)

    for name, values in samples.items():
        target = "< 0.1 s" if name.startswith("qxub") else ""
        report(f"job's last write -> prompt, {name}", values, target=target)


if __name__ == "__main__":
    main()
