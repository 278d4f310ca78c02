"""End to end: the job's stdout and stderr reach qxub's, byte for byte, with both redirected."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from conftest import RunQxub, StartQxub

pytestmark = pytest.mark.timeout(180)

# Each piece is written and flushed on its own, with a pause, so the monitor meets it partly
# written: partial lines, carriage returns, empty lines, binary and invalid UTF-8.
AWKWARD_STDOUT = [
    b"partial",
    b" line\n",
    b"\n\n",
    b"progress 1%\rprogress 50%\rprogress 100%\r",
    b"\n",
    bytes(range(256)),
    b"\xff\xfe\xc3\x28\xed\xa0\x80\n",
    b"last line without newline",
]
AWKWARD_STDERR = [b"warn", b"ing\n", b"\r\r", b"\x00\x01\x02", b"tail"]

WRITER = """
import os, sys, time
pieces = {pieces!r}
for stream, piece in pieces:
    os.write(stream, piece)
    time.sleep(0.03)
"""


def python_job(source: str) -> list[str]:
    return ["--", sys.executable, "-c", source]


def test_awkward_bytes_arrive_exactly(run_qxub: RunQxub) -> None:
    pieces = [(1, piece) for piece in AWKWARD_STDOUT] + [(2, piece) for piece in AWKWARD_STDERR]
    pieces.sort(key=lambda item: item[1])

    done = run_qxub(python_job(WRITER.format(pieces=pieces)))

    assert done.returncode == 0
    assert done.stdout == b"".join(piece for stream, piece in pieces if stream == 1)
    assert done.stderr == b"".join(piece for stream, piece in pieces if stream == 2)


def test_megabyte_lines_arrive_whole(run_qxub: RunQxub) -> None:
    source = "import sys\nfor n in range(3): sys.stdout.write(str(n) * (1 << 20) + '\\n')"

    done = run_qxub(python_job(source))

    expected = b"".join(str(n).encode() * (1 << 20) + b"\n" for n in range(3))
    assert (done.returncode, done.stdout, done.stderr) == (0, expected, b"")


def test_fifty_megabytes_of_binary_output_arrive_exactly(run_qxub: RunQxub, tmp_path: Path) -> None:
    payload = tmp_path / "payload.bin"
    block = hashlib.sha256(b"qxub").digest() * 32768
    payload.write_bytes(block * 50)

    done = run_qxub(["--", "cat", str(payload)])

    assert done.returncode == 0
    assert len(done.stdout) == 50 * len(block)
    assert hashlib.sha256(done.stdout).digest() == hashlib.sha256(payload.read_bytes()).digest()
    assert done.stderr == b""


def test_job_that_prints_nothing(run_qxub: RunQxub) -> None:
    done = run_qxub(["--", "true"])

    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_last_line_without_newline_and_quick_job(run_qxub: RunQxub) -> None:
    done = run_qxub(["--", "printf", "no newline at the end"])

    assert (done.returncode, done.stdout, done.stderr) == (0, b"no newline at the end", b"")


def test_job_that_deletes_its_own_output_file(
    start_qxub: StartQxub, job_root: Path, tmp_path: Path
) -> None:
    release = tmp_path / "release"
    wait_for_release = f"until [ -e {release} ]; do sleep 0.05; done"
    script = f"echo before; {wait_for_release}; rm -f {job_root}/*/out; echo after; echo gone >&2"

    process = start_qxub(["--", "bash", "-c", script])
    assert process.stdout is not None
    first_line = process.stdout.readline()  # streamed before the job deletes its file
    release.touch()
    stdout, stderr = process.communicate()

    assert process.returncode == 0
    assert first_line + stdout == b"before\nafter\n"
    assert stderr == b"gone\n"


def test_stdout_and_stderr_keep_their_own_order(run_qxub: RunQxub) -> None:
    script = "for i in $(seq 1 200); do echo out$i; echo err$i >&2; done"

    done = run_qxub(["--", "bash", "-c", script])

    assert done.stdout == b"".join(b"out%d\n" % i for i in range(1, 201))
    assert done.stderr == b"".join(b"err%d\n" % i for i in range(1, 201))
