"""The submitting environment, captured for the job and read back by bash byte for byte."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

from qxub_core.environment import capture_environment, export_lines, write_environment_file

AWKWARD_VALUES = {
    "QXUB_TEST_SPACES": "a  b\tc",
    "QXUB_TEST_QUOTES": 'it\'s "quoted"',
    "QXUB_TEST_SHELL": "$HOME `id` $(id) * ; | &",
    "QXUB_TEST_NEWLINES": "one\ntwo\n",
    "QXUB_TEST_EMPTY": "",
    "QXUB_TEST_UNICODE": "naïve ☃",
    "QXUB_TEST_NOT_UTF8": os.fsdecode(b"caf\xe9 \xff"),
}


def test_host_and_scheduler_variables_stay_behind() -> None:
    environ = {
        "PATH": "/usr/bin",
        "PBS_JOBID": "1.pbs",
        "SLURM_JOB_ID": "9",
        "SLURMD_NODENAME": "n1",
        "QXUB_LOCAL_JOB_ID": "l1",
        "HOSTNAME": "login1",
        "PWD": "/home/u",
        "OLDPWD": "/",
        "SHLVL": "2",
        "_": "/usr/bin/qxub",
        "TMPDIR": "/tmp/u",
        "SHELLOPTS": "braceexpand",
        "BASH_FUNC_module%%": "() { :; }",
        "1BAD": "x",
        "QXUB_JOB_ROOT": "/scratch/jobs",
    }

    captured = capture_environment(environ)

    assert captured == {"PATH": "/usr/bin", "QXUB_JOB_ROOT": "/scratch/jobs"}


def test_export_lines_are_sorted_and_quoted() -> None:
    assert export_lines({"B": "x y", "A": "1"}) == ["export A=1", "export B='x y'"]


def test_environment_file_is_private_and_bash_reads_back_exact_bytes(tmp_path: Path) -> None:
    path = write_environment_file(tmp_path, AWKWARD_VALUES)

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    restored = _environment_after_sourcing(path)
    for name, value in AWKWARD_VALUES.items():
        assert restored[os.fsencode(name)] == os.fsencode(value)


def _environment_after_sourcing(path: Path) -> dict[bytes, bytes]:
    done = subprocess.run(
        ["bash", "-c", '. "$1" && env -0', "bash", str(path)],
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        check=True,
        timeout=30,
    )
    pairs = [entry.partition(b"=") for entry in done.stdout.split(b"\0") if entry]
    return {name: value for name, _, value in pairs}
