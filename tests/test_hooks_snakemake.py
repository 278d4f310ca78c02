"""The Snakemake executor's submission, status rounds and usage collection fire the hooks."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from qxub_core.environment import capture_environment
from qxub_core.hooks import hookimpl
from qxub_core.monitor import MonitorSettings
from qxub_core.plugins import Plugins
from qxub_core.schedulers.local import LocalScheduler
from qxub_core.spec import JobSpec
from snakemake_executor_plugin_qxub.status import StatusRounds
from snakemake_executor_plugin_qxub.submission import submit_spec
from snakemake_executor_plugin_qxub.usage import UsageCollector, UsageRequest

pytestmark = pytest.mark.timeout(60)

ROUND_INTERVAL_S = 0.05
ROUNDS_LIMIT = 1200


class Recorder:
    def __init__(self) -> None:
        self.events: list[str] = []
        self.usage_seen = threading.Event()

    @hookimpl
    def qxub_job_submitted(self, spec: JobSpec) -> None:
        self.events.append(f"submitted {spec.scheduler_args}")

    @hookimpl
    def qxub_job_started(self) -> None:
        self.events.append("started")

    @hookimpl
    def qxub_job_finished(self, exit_code: int) -> None:
        self.events.append(f"finished {exit_code}")

    @hookimpl
    def qxub_usage_collected(self) -> None:
        self.events.append("usage")
        self.usage_seen.set()

    @hookimpl
    def qxub_submit_args(self) -> list[str]:
        return ["--comment", "rule a"]


def test_a_workflow_job_goes_through_the_hooks(tmp_path: Path) -> None:
    plugins = Plugins(entry_points=False)
    recorder = Recorder()
    plugins.register(recorder)
    scheduler = LocalScheduler({"job_root": str(tmp_path / "jobs")})
    spec = JobSpec(
        command=("sh", "-c", "exit 2"), environment=capture_environment(), workdir=tmp_path
    )

    submission = submit_spec(spec, scheduler, tmp_path / "jobs", plugins=plugins)
    rounds = StatusRounds(scheduler, MonitorSettings(fallback_interval_s=1), plugins=plugins)
    rounds.follow(submission.job_id, submission.job_dir)
    ended = {}
    for _ in range(ROUNDS_LIMIT):
        ended = rounds.run_round([submission.job_id])
        if ended:
            break
        time.sleep(ROUND_INTERVAL_S)
    UsageCollector(scheduler, plugins).collect(
        UsageRequest("a", submission.job_id, submission.job_dir, spec)
    )

    assert ended[submission.job_id].exit_code == 2
    assert recorder.usage_seen.wait(timeout=30)
    assert recorder.events == [
        "submitted (\"--comment 'rule a'\",)",
        "started",
        "finished 2",
        "usage",
    ]
