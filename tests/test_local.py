"""The local backend: supervisor, walltime, cancellation, batched query and usage."""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import LocalJob, group_alive, wait_for

from qxub_core.schedulers.base import JobPhase, JobState
from qxub_core.schedulers.local import LocalScheduler, new_job_id
from qxub_core.schedulers.local_supervisor import STATE_FILE, read_state
from qxub_core.status import read_final

pytestmark = pytest.mark.timeout(60)
SubmitLocal = Callable[..., LocalJob]


def ended_state(scheduler: LocalScheduler, job: LocalJob) -> JobState:
    def ended() -> bool:
        return scheduler.query([job.job_id])[job.job_id].phase is JobPhase.ENDED

    wait_for(ended, what=f"job {job.job_id} to end")
    return scheduler.query([job.job_id])[job.job_id]


def test_job_ids_are_unique_and_not_bare_pids() -> None:
    ids = {new_job_id() for _ in range(1000)}

    assert len(ids) == 1000
    assert all(not job_id.isdigit() and "/" not in job_id for job_id in ids)


def test_exit_code_and_status_files(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("bash", "-c", "echo out; echo err >&2; exit 3")

    state = ended_state(local_scheduler, job)

    assert (state.exit_code, state.raw_state) == (3, "exited")
    assert read_final(job.job_dir, job.job_id) is not None
    assert (job.job_dir / "out").read_bytes() == b"out\n"
    assert (job.job_dir / "err").read_bytes() == b"err\n"


def test_job_runs_in_its_own_group_with_the_job_id(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("bash", "-c", 'echo "$QXUB_LOCAL_JOB_ID $(ps -o pgid= $$)"')

    ended_state(local_scheduler, job)
    job_id, pgid = (job.job_dir / "out").read_text().split()

    state = read_state(job.job_dir)
    assert state is not None
    assert job_id == job.job_id
    assert int(pgid) == state.job_pgid != os.getpgid(0)


def test_query_is_batched_and_answers_for_unknown_ids(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    first = submit_local("sleep", "30")
    second = submit_local("true")
    ended_state(local_scheduler, second)
    wait_for(
        lambda: (
            read_state(first.job_dir) is not None and read_state(first.job_dir).phase == "running"
        )
    )

    states = local_scheduler.query([first.job_id, second.job_id, "nosuch.1.2"])

    assert states[first.job_id].phase is JobPhase.RUNNING
    assert states[second.job_id].exit_code == 0
    assert states["nosuch.1.2"].phase is JobPhase.UNKNOWN


def test_another_process_finds_the_job_through_the_job_root(
    submit_local: SubmitLocal, job_root: Path
) -> None:
    job = submit_local("true")
    stranger = LocalScheduler({"job_root": str(job_root)})

    wait_for(lambda: stranger.query([job.job_id])[job.job_id].phase is JobPhase.ENDED)

    assert stranger.query([job.job_id])[job.job_id].exit_code == 0


def test_walltime_kill_is_recorded_and_maps_to_124(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("sleep", "30", walltime_s=1)

    state = ended_state(local_scheduler, job)
    final = read_final(job.job_dir, job.job_id)

    assert state.exit_code == 124
    assert state.reason is not None and "walltime of 00:00:01" in state.reason
    assert final is not None and final.reason_kind == "signal"


def test_walltime_kills_a_job_that_ignores_sigterm(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("bash", "-c", "trap '' TERM; while :; do sleep 0.1; done", walltime_s=1)

    state = ended_state(local_scheduler, job)
    supervisor_state = read_state(job.job_dir)

    assert state.exit_code == 124
    assert supervisor_state is not None and supervisor_state.walltime_exceeded
    assert not group_alive(supervisor_state.job_pgid or 0)


def test_cancel_ends_the_whole_group_and_maps_to_143(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("bash", "-c", "sleep 30 & sleep 30 & wait")
    wait_for(lambda: (job.job_dir / f"job_started_{job.job_id}").exists())
    wait_for(lambda: local_scheduler.query([job.job_id])[job.job_id].phase is JobPhase.RUNNING)
    state = read_state(job.job_dir)
    assert state is not None and state.job_pgid is not None

    local_scheduler.cancel([job.job_id])
    ended = ended_state(local_scheduler, job)

    assert ended.exit_code == 143
    assert ended.reason == "the job was cancelled (SIGTERM, local backend)"
    assert not group_alive(state.job_pgid)


def test_cancel_of_an_ended_job_is_not_an_error(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("true")
    ended_state(local_scheduler, job)

    local_scheduler.cancel([job.job_id, "nosuch.1.2"])

    assert ended_state(local_scheduler, job).exit_code == 0


def test_leftover_background_processes_are_stopped_when_the_script_ends(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("bash", "-c", "sleep 300 & echo started")

    ended_state(local_scheduler, job)
    state = read_state(job.job_dir)

    assert state is not None and state.job_pgid is not None
    assert not group_alive(state.job_pgid)


def test_supervisor_killed_before_the_end_reports_the_job_lost(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("sleep", "30")
    wait_for(lambda: read_state(job.job_dir) is not None)
    state = read_state(job.job_dir)
    assert state is not None

    os.kill(state.supervisor_pid, signal.SIGKILL)
    ended = ended_state(local_scheduler, job)

    assert ended.exit_code == 125
    assert ended.reason is not None and "supervisor is gone" in ended.reason


def test_usage_counts_cpu_of_grandchildren_and_peak_memory(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 1: pass"
    touch = "b = bytearray(200 * 1024 * 1024)\nfor i in range(0, len(b), 4096): b[i] = 1"
    job = submit_local(
        "bash", "-c", f"python3 -c '{burn}' & python3 -c '{touch}'; wait", cpus=1, mem_bytes=1 << 30
    )

    ended_state(local_scheduler, job)
    usage = local_scheduler.usage(job.job_id, job.job_dir, job.spec)

    assert usage is not None
    assert usage.cpu_time_s is not None and usage.cpu_time_s >= 0.9
    assert usage.peak_mem_bytes is not None and usage.peak_mem_bytes >= 200 * 1024 * 1024
    assert usage.mem_requested_bytes == 1 << 30
    assert usage.notes and usage.source == "local-supervisor"
    assert json.loads((job.job_dir / "usage.json").read_text())["job_id"] == job.job_id


def test_state_file_is_whole_json_at_every_read(
    submit_local: SubmitLocal, local_scheduler: LocalScheduler
) -> None:
    job = submit_local("sleep", "0.5")
    deadline = time.monotonic() + 20
    phases = set()
    while time.monotonic() < deadline and "ended" not in phases:
        path = job.job_dir / STATE_FILE
        if path.exists():
            phases.add(json.loads(path.read_text())["phase"])

    assert "ended" in phases
