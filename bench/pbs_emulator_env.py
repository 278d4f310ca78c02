"""Running the real ``qxub --scheduler pbs`` against the PBS emulator of tests/pbs_emulator.

The benchmarks keep qxub's default poll tick (0.1 s); each run gets its own emulator state.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

QXUB = Path(sys.executable).with_name("qxub")
EMULATOR_DIR = Path(__file__).resolve().parent.parent / "tests" / "pbs_emulator"


def pbs_bench_env(root: Path, path_first: Sequence[Path] = ()) -> dict[str, str]:
    """This environment without qxub settings, with the emulator (and ``path_first``) on PATH."""
    state = root / "pbs-state"
    state.mkdir(parents=True, exist_ok=True)
    env = {key: value for key, value in os.environ.items() if not key.startswith("QXUB_")}
    entries = [*map(str, path_first), str(EMULATOR_DIR), env.get("PATH", "")]
    env.update(
        PATH=os.pathsep.join(entries),
        QXUB_JOB_ROOT=str(root / "jobs"),
        PBS_EMULATOR_HOME=str(state),
        PBS_EMULATOR_USER_HOME=str(root),
        PBS_EMULATOR_QUEUE_DELAY_S="0.1",
    )
    return env


def new_root() -> Path:
    return Path(tempfile.mkdtemp(prefix="qxub-pbs-bench-"))


def start_pbs_qxub(
    args: Sequence[str], env: dict[str, str], **popen: Any
) -> subprocess.Popen[bytes]:
    """``qxub --scheduler pbs ARGS`` in the background."""
    command = [str(QXUB), "--scheduler", "pbs", *args]
    return subprocess.Popen(command, env=env, stdin=subprocess.DEVNULL, **popen)
