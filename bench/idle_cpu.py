"""qxub's own CPU while its job sleeps 30 s (target < 1% of a core), and the supervisor's.

CPU time is read from /proc over 20 s of the job's sleep, once it is running, so start-up is
left out.
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
WINDOW_S = 20


def cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat", "rb") as handle:
        fields = handle.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_S


def running_supervisor_pid(root: Path) -> int:
    """The supervisor's pid, once it reports the job running."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        for path in glob.glob(str(root / "*" / "local_state.json")):
            state = json.loads(Path(path).read_text())
            if state["phase"] == "running":
                return int(state["supervisor_pid"])
        time.sleep(0.1)
    raise SystemExit("the job did not start within 60 s")


def main() -> None:
    root = job_root()
    process = start_qxub(["--", "sleep", str(SLEEP_S)], root, stdout=subprocess.DEVNULL)
    supervisor = running_supervisor_pid(root)
    time.sleep(1)
    first = (time.monotonic(), cpu_s(process.pid), cpu_s(supervisor))
    time.sleep(WINDOW_S)
    last = (time.monotonic(), cpu_s(process.pid), cpu_s(supervisor))
    process.wait(timeout=120)

    elapsed_s = last[0] - first[0]
    print(
        f"qxub CPU while the job sleeps: {100 * (last[1] - first[1]) / elapsed_s:.2f}% of a core "
        f"over {elapsed_s:.0f} s (target < 1%); local supervisor: "
        f"{100 * (last[2] - first[2]) / elapsed_s:.2f}%"
    )


if __name__ == "__main__":
    main()
