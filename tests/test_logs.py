"""qxub's own logging: one reading of ``QXUB_LOG_LEVEL`` for the command and the supervisor."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from conftest import only_job_dir
from qxub_process import isolated_environ, run_plain_qxub

from qxub_core.logs import requested_log_level


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("", (logging.INFO, None)),
        ("debug", (logging.DEBUG, None)),
        (" Error ", (logging.ERROR, None)),
        ("bogus", (logging.WARNING, "bogus")),
        ("10", (logging.WARNING, "10")),
    ],
)
def test_the_level_is_read_one_way(value: str, expected: tuple[int, str | None]) -> None:
    assert requested_log_level({"QXUB_LOG_LEVEL": value}, default=logging.INFO) == expected


def test_an_unset_level_is_the_callers_default() -> None:
    assert requested_log_level({}) == (logging.WARNING, None)


@pytest.mark.timeout(60)
def test_a_bad_level_warns_once_and_the_local_job_still_runs(tmp_path: Path) -> None:
    environ = isolated_environ(tmp_path, QXUB_LOG_LEVEL="bogus")

    done = run_plain_qxub(["--scheduler", "local", "--", "echo", "ran"], environ, tmp_path)

    assert (done.returncode, done.stdout) == (0, b"ran\n")
    assert done.stderr.decode().splitlines() == [
        "qxub WARNING qxub_core.logs: QXUB_LOG_LEVEL=bogus is not a log level; using WARNING"
    ]
    supervisor_log = (only_job_dir(tmp_path / "jobs") / "scheduler.log").read_text()
    assert "QXUB_LOG_LEVEL=bogus is not a log level" in supervisor_log
    assert "Traceback" not in supervisor_log


@pytest.mark.timeout(60)
def test_the_supervisor_logs_under_the_qxub_logger(tmp_path: Path) -> None:
    environ = isolated_environ(tmp_path, QXUB_LOG_LEVEL="info")

    done = run_plain_qxub(["--scheduler", "local", "--quiet", "--", "true"], environ, tmp_path)

    assert done.returncode == 0
    supervisor_log = (only_job_dir(tmp_path / "jobs") / "scheduler.log").read_text()
    assert " qxub.local_supervisor INFO Job " in supervisor_log
    assert "__main__" not in supervisor_log
