"""The job's environment: the submitting environment, captured for the job script to restore.

By default a job sees the environment of the prompt it was submitted from, on every backend. The
environment is written into the private job directory as ``environment.sh`` (one shell-quoted
``export NAME=VALUE`` line per variable, mode 0600) and sourced by the job script; it never goes
on a submit command line. Names that must come from the execution host are left out, as are
names a shell cannot export.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Mapping
from pathlib import Path

from qxub_core.status import ENVIRONMENT_FILE

ENVIRONMENT_FILE_MODE = 0o600

# Variables that describe the execution host or the running job, never the submitting prompt.
HOST_VARIABLES = frozenset(
    {
        "_",
        "HOSTNAME",
        "OLDPWD",
        "PWD",
        "SHLVL",
        "TMPDIR",
        "XDG_RUNTIME_DIR",
        # GPUs the scheduler bound to this job on its node.
        "CUDA_VISIBLE_DEVICES",
        "GPU_DEVICE_ORDINAL",
        "ROCR_VISIBLE_DEVICES",
    }
)
HOST_PREFIXES = ("PBS_", "SLURM_", "SLURMD_", "QXUB_LOCAL_")

# Variables bash keeps read-only: exporting them from a file would fail.
BASH_READONLY_VARIABLES = frozenset(
    {"BASHOPTS", "BASH_VERSINFO", "EUID", "PPID", "SHELLOPTS", "UID"}
)

_SHELL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def is_shell_name(name: str) -> bool:
    """Whether ``name`` can be a shell variable (and so an ``export`` target)."""
    return _SHELL_NAME.match(name) is not None


def is_captured(name: str) -> bool:
    """Whether a variable of the submitting environment is handed to the job."""
    if not is_shell_name(name):
        return False
    if name in HOST_VARIABLES or name in BASH_READONLY_VARIABLES:
        return False
    return not name.startswith(HOST_PREFIXES)


def capture_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The part of ``environ`` (default: this process's) that the job restores."""
    source = os.environ if environ is None else environ
    return {name: value for name, value in source.items() if is_captured(name)}


def export_lines(variables: Mapping[str, str]) -> list[str]:
    """``export NAME=VALUE`` lines, values quoted so that bash reads back the exact bytes."""
    return [f"export {name}={shlex.quote(value)}" for name, value in sorted(variables.items())]


def write_environment_file(job_dir: Path, environment: Mapping[str, str]) -> Path:
    """Write ``environment.sh`` (mode 0600) in ``job_dir`` from a captured environment."""
    path = job_dir / ENVIRONMENT_FILE
    text = "".join(f"{line}\n" for line in export_lines(capture_environment(environment)))

    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, ENVIRONMENT_FILE_MODE)
    with open(descriptor, "w", encoding="utf-8", errors="surrogateescape") as handle:
        handle.write(text)
    os.chmod(path, ENVIRONMENT_FILE_MODE)
    return path
