"""Byte-offset followers: every byte the job appends reaches the sink once, unchanged."""

from __future__ import annotations

import io
import os
from pathlib import Path

from qxub_core.stream import FileFollower, Sink

AWKWARD_PIECES = [
    b"partial line without newline",
    b" ... continued\n",
    b"\n\n",
    b"progress 10%\rprogress 50%\rprogress 100%\r\n",
    bytes(range(256)),
    b"\xff\xfe invalid \xc3\x28 utf-8 \xed\xa0\x80\n",
    b"last line without newline",
]


def follow(path: Path, chunk_bytes: int = 7) -> tuple[FileFollower, io.BytesIO]:
    sink_buffer = io.BytesIO()
    return FileFollower(path, [Sink(sink_buffer, "test")], chunk_bytes=chunk_bytes), sink_buffer


def test_missing_file_is_not_an_error_and_is_read_from_its_first_byte(tmp_path: Path) -> None:
    path = tmp_path / "out"
    follower, sink = follow(path)

    assert follower.copy_new_bytes() == 0
    path.write_bytes(b"first\n")
    assert follower.copy_new_bytes() == 6

    assert sink.getvalue() == b"first\n"


def test_awkward_bytes_pass_unchanged_piece_by_piece(tmp_path: Path) -> None:
    path = tmp_path / "out"
    follower, sink = follow(path)

    with open(path, "ab", buffering=0) as job_output:
        for piece in AWKWARD_PIECES:
            job_output.write(piece)
            follower.copy_new_bytes()

    assert sink.getvalue() == b"".join(AWKWARD_PIECES)
    assert follower.offset == len(b"".join(AWKWARD_PIECES))


def test_budget_bounds_one_call_and_the_rest_follows(tmp_path: Path) -> None:
    path = tmp_path / "out"
    data = os.urandom(100_000)
    path.write_bytes(data)
    follower, sink = follow(path, chunk_bytes=4096)

    first = follower.copy_new_bytes(budget_bytes=10_000)
    rest = follower.copy_new_bytes()

    assert 10_000 <= first < 10_000 + 4096
    assert first + rest == len(data)
    assert sink.getvalue() == data


def test_megabyte_line_arrives_whole(tmp_path: Path) -> None:
    path = tmp_path / "out"
    line = b"x" * (3 << 20) + b"\n"
    path.write_bytes(line)
    follower, sink = follow(path, chunk_bytes=1 << 16)

    follower.copy_new_bytes()

    assert sink.getvalue() == line


def test_file_deleted_by_the_job_keeps_what_it_writes_after(tmp_path: Path) -> None:
    path = tmp_path / "out"
    follower, sink = follow(path)
    with open(path, "ab", buffering=0) as job_output:
        job_output.write(b"before\n")
        follower.copy_new_bytes()
        path.unlink()
        job_output.write(b"after\n")
        follower.copy_new_bytes()

    assert sink.getvalue() == b"before\nafter\n"


def test_file_replaced_by_the_job_is_followed_from_its_start(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"old\n")
    follower, sink = follow(path)
    follower.copy_new_bytes()

    path.unlink()
    path.write_bytes(b"new\n")
    follower.copy_new_bytes()

    assert sink.getvalue() == b"old\nnew\n"


def test_closed_follower_copies_nothing_more(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"one\n")
    follower, sink = follow(path)
    follower.copy_new_bytes()
    follower.close()

    with open(path, "ab") as job_output:
        job_output.write(b"two\n")

    assert follower.copy_new_bytes() == 0
    assert sink.getvalue() == b"one\n"


def test_broken_sink_does_not_stop_the_others(tmp_path: Path) -> None:
    path = tmp_path / "out"
    path.write_bytes(b"data\n")
    broken = io.BytesIO()
    broken.close()
    healthy = io.BytesIO()
    follower = FileFollower(path, [Sink(broken, "broken"), Sink(healthy, "healthy")])

    follower.copy_new_bytes()

    assert healthy.getvalue() == b"data\n"
    assert follower.sinks[0].broken


def test_sink_tracks_line_starts_and_calls_its_first_write_hook_once() -> None:
    calls = []
    sink = Sink(io.BytesIO(), "test", before_first_write=lambda: calls.append("first"))

    sink.write(b"partial")
    assert not sink.at_line_start
    sink.write(b" done\n")

    assert sink.at_line_start
    assert calls == ["first"]
