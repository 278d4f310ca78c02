"""Putting the PBS emulator (tests/pbs_emulator) in front of a test: PATH, state and settings.

Each test gets its own state directory and home directory, so jobs, history and fault switches
never leak between tests. Delays are short so that tests stay quick; each can be overridden.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

EMULATOR_DIR = Path(__file__).parent / "pbs_emulator"
JOB_WAIT_S = 30.0


def emulator_environment(root: Path, isolated_home: bool = True, **settings: str) -> dict[str, str]:
    """Environment variables that make ``qsub``/``qstat``/``qdel`` the emulator's, under root.

    With ``isolated_home`` jobs start in a home directory of their own under ``root``; without,
    in the submitting ``$HOME``, as on a cluster.
    """
    state, user_home = root / "pbs-state", root / "pbs-home"
    state.mkdir(parents=True, exist_ok=True)
    user_home.mkdir(parents=True, exist_ok=True)
    values = {
        "PATH": f"{EMULATOR_DIR}{os.pathsep}{os.environ.get('PATH', '')}",
        "PBS_EMULATOR_HOME": str(state),
        "PBS_EMULATOR_SERVER": "vm",
        "PBS_EMULATOR_QUEUE_DELAY_S": "0.1",
        "PBS_EMULATOR_KILL_DELAY_S": "1",
        "PBS_EMULATOR_WALLTIME_DELAY_S": "0.5",
        "PBS_EMULATOR_MOM_POLL_S": "0.1",
    }
    if isolated_home:
        values["PBS_EMULATOR_USER_HOME"] = str(user_home)
    values.update({f"PBS_EMULATOR_{name.upper()}": value for name, value in settings.items()})
    return values


def set_fault(environment: dict[str, str], fault: str, value: str) -> None:
    """Turn on one of the emulator's fault switches (see pbsemu_state.FAULTS)."""
    (Path(environment["PBS_EMULATOR_HOME"]) / "faults").mkdir(exist_ok=True)
    (Path(environment["PBS_EMULATOR_HOME"]) / "faults" / fault).write_text(value)


def run_pbs(
    environment: dict[str, str], *argv: str, cwd: Path | None = None, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    """Run one emulated PBS command with the emulator's environment."""
    return subprocess.run(
        list(argv),
        env={**os.environ, **environment},
        cwd=cwd or Path(environment["PBS_EMULATOR_HOME"]).parent,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=JOB_WAIT_S,
    )


def wait_for_state(environment: dict[str, str], job_id: str, wanted: str) -> str:
    """Poll ``qstat -fx`` until the job reaches state ``wanted``; return that -f text."""
    deadline = time.monotonic() + JOB_WAIT_S
    while time.monotonic() < deadline:
        done = run_pbs(environment, "qstat", "-fx", job_id)
        if f"    job_state = {wanted}\n" in done.stdout:
            return done.stdout
        time.sleep(0.05)
    raise AssertionError(f"job {job_id} never reached state {wanted}: {done.stdout}")
