"""Slurm's states and exit codes into qxub's table, read from answers of a real cluster."""

from __future__ import annotations

import pytest
from slurm_reference import recorded

from qxub_core.schedulers.base import JobPhase
from qxub_core.schedulers.slurm_states import (
    SLURM_STATES,
    ExitStatus,
    job_state,
    parse_sacct_states,
    parse_squeue_states,
)

# case recorded from the test cluster -> (phase, exit code qxub returns)
RECORDED_CASES = {
    "exit3": (JobPhase.ENDED, 3),
    "signal": (JobPhase.ENDED, 137),
    "cancelled": (JobPhase.ENDED, 143),
    "cancelled-at-start": (JobPhase.ENDED, 143),
    "cancelled-pending": (JobPhase.ENDED, 125),
    "timeout": (JobPhase.ENDED, 124),
    "usage": (JobPhase.ENDED, 0),
    "running": (JobPhase.RUNNING, None),
    "pending": (JobPhase.QUEUED, None),
}


@pytest.mark.parametrize("case", sorted(RECORDED_CASES))
def test_sacct_answer(case: str) -> None:
    states = parse_sacct_states(recorded(case, "sacct-state", "4242"))

    assert list(states) == ["4242"]
    assert (states["4242"].phase, states["4242"].exit_code) == RECORDED_CASES[case]


@pytest.mark.parametrize("case", sorted(RECORDED_CASES))
def test_squeue_answer_agrees_with_sacct(case: str) -> None:
    states = parse_squeue_states(recorded(case, "squeue", "4242"))

    assert (states["4242"].phase, states["4242"].exit_code) == RECORDED_CASES[case]


def test_every_code_qxub_chooses_has_a_reason() -> None:
    for case in ("signal", "cancelled", "cancelled-pending", "timeout"):
        state = parse_sacct_states(recorded(case, "sacct-state"))["JOBID"]
        assert state.reason, case
        assert "\n" not in state.reason

    assert parse_sacct_states(recorded("exit3", "sacct-state"))["JOBID"].reason is None


def test_reasons_say_what_happened() -> None:
    timeout = parse_sacct_states(recorded("timeout", "sacct-state"))["JOBID"]
    cancelled = parse_sacct_states(recorded("cancelled", "sacct-state"))["JOBID"]
    never_ran = parse_sacct_states(recorded("cancelled-pending", "sacct-state"))["JOBID"]

    assert timeout.reason is not None and "time limit" in timeout.reason
    assert cancelled.reason is not None and "scancel" in cancelled.reason
    assert never_ran.reason is not None and "before it started" in never_ran.reason


def test_raw_state_and_pending_reason_are_kept_for_logs() -> None:
    cancelled = parse_sacct_states(recorded("cancelled", "sacct-state"))["JOBID"]
    pending = parse_sacct_states(recorded("pending", "sacct-state"))["JOBID"]

    assert cancelled.raw_state == "CANCELLED by 0"
    assert pending.reason == "JobHeldUser"


def test_handwritten_states_of_a_larger_cluster() -> None:
    states = parse_sacct_states(recorded("handwritten", "sacct-state"))

    codes = {job_id: state.exit_code for job_id, state in states.items()}
    assert codes == {"101": 137, "102": 125, "103": 125, "104": 125, "105": 125, "106_4": 0}
    assert "out of memory" in (states["101"].reason or "")
    assert "NODE_FAIL" in (states["102"].reason or "")


def test_a_job_cancelled_after_it_started_is_143_even_with_no_signal_recorded() -> None:
    allocation_only = recorded("cancelled", "sacct-state").splitlines()[0] + "\n"

    assert parse_sacct_states(allocation_only)["JOBID"].exit_code == 143


def test_a_cancel_with_another_signal_keeps_that_signal() -> None:
    text = "7|CANCELLED by 0|0:0|None|2026-12-04T10:00:00\n7.batch|CANCELLED|0:9||\n"

    assert parse_sacct_states(text)["7"].exit_code == 137


def test_several_jobs_in_one_answer() -> None:
    text = recorded("exit3", "sacct-state", "7") + recorded("running", "sacct-state", "8")

    states = parse_sacct_states(text)

    assert states["7"].exit_code == 3
    assert states["8"].phase is JobPhase.RUNNING


def test_gone_means_not_pending_running_or_completing() -> None:
    active = {name for name, meaning in SLURM_STATES.items() if meaning.phase is not JobPhase.ENDED}

    assert {"PENDING", "RUNNING", "COMPLETING"} <= active
    assert {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "OUT_OF_MEMORY"}.isdisjoint(active)


def test_an_unknown_state_is_not_taken_for_an_end() -> None:
    state = job_state("9", "WARPED", ExitStatus(0, 0))

    assert state.phase is JobPhase.UNKNOWN
    assert state.raw_state == "WARPED"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("3:0", ExitStatus(3, 0)), ("0:15", ExitStatus(0, 15)), ("", None), ("x:y", None)],
)
def test_exit_code_field(text: str, expected: ExitStatus | None) -> None:
    assert ExitStatus.from_sacct(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [("768", ExitStatus(3, 0)), ("9", ExitStatus(0, 9)), ("0", ExitStatus(0, 0)), ("", None)],
)
def test_wait_status_field(text: str, expected: ExitStatus | None) -> None:
    assert ExitStatus.from_wait_status(text) == expected


def test_lines_that_are_not_records_are_skipped() -> None:
    text = "sacct: notice: something\n\n" + recorded("exit3", "sacct-state", "5")

    assert list(parse_sacct_states(text)) == ["5"]
