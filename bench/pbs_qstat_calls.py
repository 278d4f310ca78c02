"""Through the PBS emulator: how many times qxub runs qstat while one job runs.

Target: only the fallback's, one batched ``qstat -fx -F json`` per fallback interval. A
counting ``qstat`` placed before the emulator's on PATH logs every call.

    python bench/pbs_qstat_calls.py [JOB_S [FALLBACK_S]]   (default: a 300 s job, 60 s fallback)
"""

from __future__ import annotations

import collections
import sys
import tempfile
import time
from pathlib import Path

from pbs_emulator_env import EMULATOR_DIR, new_root, pbs_bench_env, start_pbs_qxub


def counting_qstat(log: Path) -> Path:
    """A directory whose ``qstat`` logs its arguments, then runs the emulator's."""
    directory = Path(tempfile.mkdtemp(prefix="qxub-qstat-count-"))
    script = directory / "qstat"
    script.write_text(f'#!/bin/sh\necho "$*" >>"{log}"\nexec "{EMULATOR_DIR}/qstat" "$@"\n')
    script.chmod(0o755)
    return directory


def main() -> None:
    job_s = float(sys.argv[1]) if len(sys.argv) > 1 else 300.0
    fallback_s = float(sys.argv[2]) if len(sys.argv) > 2 else 60.0
    root = new_root()
    log = root / "qstat-calls"
    env = pbs_bench_env(root, [counting_qstat(log)])
    env["QXUB_FALLBACK_INTERVAL_S"] = str(fallback_s)

    started = time.monotonic()
    process = start_pbs_qxub(["--", "sleep", str(job_s)], env)
    code = process.wait()
    elapsed_s = time.monotonic() - started

    calls = log.read_text().splitlines() if log.exists() else []
    kinds = collections.Counter(line.split(" ", 1)[0] + " ..." for line in calls)
    print(
        f"PBS emulator: {len(calls)} qstat calls during a {job_s:g} s job "
        f"(qxub ran {elapsed_s:.1f} s, exit {code}; fallback every {fallback_s:g} s, "
        f"so at most {int(job_s // fallback_s)} expected): {dict(kinds)}"
    )


if __name__ == "__main__":
    main()
