"""The job's last write to qxub's exit, median over runs on the local backend (target < 0.1 s).

The job's last act is to print the time; the benchmark notes when qxub has exited. The figure is
then split in three: up to the moment the job script renamed its final status file into place
(the job's own exit and the script's epilogue), up to qxub logging the job's end (noticing the
file and draining the output), and up to qxub's exit (returning and the interpreter's teardown).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from qxub_process import job_root, report, start_qxub

RUNS = 20
LAST_WRITE = "import time; time.sleep(0.5); print(time.time(), flush=True)"
END_LOGGED = b"ended with exit code"


def one_run() -> tuple[float, float, float, float]:
    """Seconds from the last write to: the final file, the end logged, qxub's exit; the whole."""
    root = job_root()
    process = start_qxub(
        ["--", sys.executable, "-c", LAST_WRITE],
        root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        extra_env={"QXUB_LOG_LEVEL": "INFO"},
    )
    end_logged: list[float] = []
    assert process.stderr is not None
    watcher = threading.Thread(target=_note_end_logged, args=(process.stderr, end_logged))
    watcher.start()
    stdout, _ = process.communicate(timeout=120)
    exited_at = time.time()
    watcher.join()

    last_write = float(stdout.split()[-1])
    final_at = next(Path(root).glob("*/final_exit_code_*")).stat().st_mtime
    logged_at = end_logged[0] if end_logged else exited_at
    return (
        final_at - last_write,
        logged_at - final_at,
        exited_at - logged_at,
        exited_at - last_write,
    )


def _note_end_logged(stderr: IO[bytes], end_logged: list[float]) -> None:
    for line in stderr:
        if END_LOGGED in line:
            end_logged.append(time.time())


def main() -> None:
    samples = [one_run() for _ in range(RUNS)]
    report("job's last write -> qxub exit", [run[3] for run in samples], target="< 0.1 s")
    parts = ("job script to final file", "final file to end logged", "end logged to exit")
    medians = ", ".join(
        f"{name} {statistics.median(run[index] for run in samples):.3f} s"
        for index, name in enumerate(parts)
    )
    print(f"  medians of the parts: {medians}")


if __name__ == "__main__":
    main()
