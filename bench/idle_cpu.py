"""qxub's own CPU while its job sleeps 30 s (target < 1% of a core), and the supervisor's.

CPU time is read from /proc at 3 s and 30 s into the job, so start-up is left out.
"""

from __future__ import annotations

import glob
import json
import os
import subprocess
import time
from pathlib import Path

from qxub_process import job_root, start_qxub

TICKS_S = os.sysconf("SC_CLK_TCK")
SLEEP_S = 30


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_S


def supervisor_pid(root: Path) -> int:
    state = glob.glob(str(root / "*" / "local_state.json"))[0]
    return int(json.loads(Path(state).read_text())["supervisor_pid"])


def main() -> None:
    root = job_root()
    process = start_qxub(["--", "sleep", str(SLEEP_S)], root, stdout=subprocess.DEVNULL)
    time.sleep(3)
    supervisor = supervisor_pid(root)
    first = (time.monotonic(), cpu_s(process.pid), cpu_s(supervisor))
    time.sleep(SLEEP_S - 4)
    last = (time.monotonic(), cpu_s(process.pid), cpu_s(supervisor))
    process.wait(timeout=60)

    elapsed_s = last[0] - first[0]
    print(
        f"qxub CPU while the job sleeps: {100 * (last[1] - first[1]) / elapsed_s:.2f}% of a core "
        f"over {elapsed_s:.0f} s (target < 1%); local supervisor: "
        f"{100 * (last[2] - first[2]) / elapsed_s:.2f}%"
    )


if __name__ == "__main__":
    main()
