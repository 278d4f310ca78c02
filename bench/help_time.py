"""``qxub --help`` from start to exit, median over runs (target < 0.3 s)."""

from __future__ import annotations

import subprocess
import time

from qxub_process import QXUB, report

RUNS = 15


def one_run() -> float:
    started = time.monotonic()
    subprocess.run([str(QXUB), "--help"], stdout=subprocess.DEVNULL, check=True, timeout=60)
    return time.monotonic() - started


def main() -> None:
    one_run()
    report("qxub --help", [one_run() for _ in range(RUNS)], target="< 0.3 s")


if __name__ == "__main__":
    main()
