"""The in-house runner of the user guide, run for real on every available backend."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Backend

EXAMPLE = Path(__file__).resolve().parent.parent / "docs" / "examples" / "inhouse_runner.py"
STEPS = ("count_words", "count_lines", "report")
LIFECYCLE = ["submitted", "started", "finished", "usage"]

pytestmark = pytest.mark.timeout(300)


def run_example(backend: Backend, tmp_path: Path) -> tuple[subprocess.CompletedProcess[str], Path]:
    events = tmp_path / "events.jsonl"
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--scheduler", backend.name]
        + ["--workdir", str(tmp_path / "run"), "--events", str(events)],
        env=backend.env,
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=240,
    )
    return done, events


def test_the_inhouse_runner_runs_its_pipeline_in_order(backend: Backend, tmp_path: Path) -> None:
    done, events_path = run_example(backend, tmp_path)

    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert (tmp_path / "run" / "report.txt").read_text() == "active words=9 lines=3\n"

    events = [json.loads(line) for line in events_path.read_text().splitlines()]
    by_step = {name: [e["event"] for e in events if e["step"] == name] for name in STEPS}
    assert by_step == {name: LIFECYCLE for name in STEPS}
    assert {e["job_id"] for e in events if e["step"] == "report"}.isdisjoint(
        {e["job_id"] for e in events if e["step"] != "report"}
    )
    assert all(e["exit_code"] == 0 for e in events if e["event"] == "finished")

    position = {(e["step"], e["event"]): index for index, e in enumerate(events)}

    report_submitted = position[("report", "submitted")]
    assert position[("count_words", "finished")] < report_submitted
    assert position[("count_lines", "finished")] < report_submitted


def test_an_unknown_scheduler_is_one_line_and_exit_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLE), "--scheduler", "nope"]
        + ["--workdir", str(tmp_path / "run"), "--events", str(tmp_path / "events.jsonl")],
        cwd=tmp_path,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2
    assert done.stderr.startswith("inhouse_runner: unknown scheduler 'nope'")
    assert len(done.stderr.splitlines()) == 1
