"""End to end with stderr on a terminal: qxub's progress lines appear, each on a line of its own.

stderr is a pseudo-terminal, stdout a pipe: the job's stdout must stay exact while qxub talks to
the terminal.
"""

from __future__ import annotations

import os
import pty
import re
import subprocess
from pathlib import Path

import pytest
from conftest import PROCESS_TIMEOUT_S, QXUB, Backend, skip_where_walltime_is_minutes

pytestmark = pytest.mark.timeout(120)


def run_on_terminal(backend: Backend, args: list[str], cwd: Path) -> tuple[int, bytes, str]:
    """Run qxub with stderr on a new terminal; its exit code, stdout and the terminal's text."""
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [str(QXUB), "--scheduler", backend.name, *args],
            env=backend.env,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
        )
        os.close(terminal)
        try:
            stdout, _ = process.communicate(timeout=PROCESS_TIMEOUT_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
        screen = _read_all(controller)
    finally:
        os.close(controller)
    return process.returncode, stdout, screen.decode(errors="replace").replace("\r\n", "\n")


def _read_all(controller: int) -> bytes:
    chunks = []
    while True:
        try:
            chunk = os.read(controller, 65536)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def own_lines(screen: str) -> list[str]:
    """qxub's lines as seen on the terminal, with the spinner's erased frames removed."""
    visible = re.sub(r"\r\x1b\[K[^\r\n]*?(?=\r\x1b\[K|$)", "", screen)
    visible = visible.replace("\r\x1b[K", "")
    return [line for line in visible.split("\n") if "qxub: " in line]


def test_progress_lines_on_a_terminal_leave_stdout_exact(backend: Backend, tmp_path: Path) -> None:
    code, stdout, screen = run_on_terminal(
        backend, ["--", "bash", "-c", "sleep 0.3; echo out; echo err >&2; exit 4"], tmp_path
    )

    assert code == 4
    assert stdout == b"out\n"
    assert "err\n" in screen
    assert any(re.fullmatch(r"qxub: job \S+ submitted to \S+", line) for line in own_lines(screen))


def test_qxub_line_never_lands_inside_a_partial_line(backend: Backend, tmp_path: Path) -> None:
    skip_where_walltime_is_minutes(backend)
    job = ["--runtime", "2s", "--", "bash", "-c", "printf 'progress 50%%' >&2; sleep 60"]

    code, _, screen = run_on_terminal(backend, job, tmp_path)

    assert code == 124
    assert "progress 50%\nqxub: job " in screen
    assert all(line.startswith("qxub: ") for line in own_lines(screen))
