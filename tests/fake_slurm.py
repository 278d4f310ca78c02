"""Fake Slurm commands on PATH for unit tests: each answers what the test tells it to."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

FAKE_COMMAND = Path(__file__).parent / "fake_tools" / "slurm-command"
SLURM_COMMANDS = ("sbatch", "scancel", "sacct", "squeue", "scontrol")


class FakeSlurm:
    """Answers per command, and the command lines the adapter ran, in order."""

    def __init__(self, state_dir: Path) -> None:
        self.state_dir = state_dir

    def answer(self, command: str, stdout: str = "", stderr: str = "", returncode: int = 0) -> None:
        (self.state_dir / f"{command}.out").write_text(stdout)
        (self.state_dir / f"{command}.err").write_text(stderr)
        (self.state_dir / f"{command}.rc").write_text(str(returncode))

    def answer_next(self, command: str, stdout: str) -> None:
        """What ``command`` prints from its next call on, once it has given the current answer."""
        (self.state_dir / f"{command}.next.out").write_text(stdout)

    @property
    def calls(self) -> list[str]:
        log = self.state_dir / "calls"
        return log.read_text().splitlines() if log.exists() else []


def install_fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeSlurm:
    """Put the fake commands first on PATH, every one answering nothing with success."""
    bin_dir = tmp_path / "fake-bin"
    state_dir = tmp_path / "fake-state"
    bin_dir.mkdir()
    state_dir.mkdir()
    for command in SLURM_COMMANDS:
        (bin_dir / command).symlink_to(FAKE_COMMAND)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("QXUB_FAKE_SLURM", str(state_dir))
    return FakeSlurm(state_dir)
