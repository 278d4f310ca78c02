"""Running the real ``qxub`` command without a backend fixture (configuration, refusals, --dry),
isolated from the user's own configuration."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

QXUB = str(Path(sys.executable).with_name("qxub"))
if not Path(QXUB).exists():
    QXUB = shutil.which("qxub") or "qxub"


def isolated_environ(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This process's environment with configuration, data and jobs under ``tmp_path``."""
    environ = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("QXUB_") and not key.startswith("XDG_")
    }
    environ.update(
        XDG_CONFIG_HOME=str(tmp_path / "xdg-config"),
        XDG_CONFIG_DIRS=str(tmp_path / "xdg-system"),
        XDG_DATA_HOME=str(tmp_path / "xdg-data"),
        QXUB_JOB_ROOT=str(tmp_path / "jobs"),
        QXUB_POLL_INTERVAL_S="0.05",
        QXUB_FALLBACK_INTERVAL_S="1",
        QXUB_GRACE_PERIOD_S="1",
    )
    return {**environ, **extra}


def run_plain_qxub(
    args: Sequence[str],
    environ: Mapping[str, str],
    cwd: Path,
    timeout_s: float = 60,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``qxub args...`` to its end; stdout and stderr captured as bytes."""
    return subprocess.run(
        [QXUB, *args],
        env=dict(environ),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout_s,
    )
