"""The executor's usage worker: one job's lost record never costs the other jobs theirs."""

from __future__ import annotations

from pathlib import Path

import pytest

from qxub_core.plugins import Plugins
from qxub_core.schedulers.base import SchedulerError
from qxub_core.schedulers.local import LocalScheduler
from qxub_core.spec import JobSpec
from qxub_core.usage import Usage
from snakemake_executor_plugin_qxub.usage import UsageCollector, UsageRequest

pytestmark = pytest.mark.timeout(60)

RECORDS_WAIT_S = 30.0


class AccountingScheduler(LocalScheduler):
    """Answers every usage question from its table; a job it has no row for makes it fail."""

    def __init__(self, answers: dict[str, Usage]) -> None:
        super().__init__({})
        self.answers = answers

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        if job_id not in self.answers:
            raise SchedulerError(f"no accounting for {job_id}")
        return self.answers[job_id]


def test_a_removed_job_directory_or_failing_accounting_costs_only_that_job(
    tmp_path: Path,
) -> None:
    spec = JobSpec(command=("true",), workdir=tmp_path)
    answers = {job_id: Usage(job_id=job_id, source="test") for job_id in ("removed", "kept")}
    collector = UsageCollector(AccountingScheduler(answers), Plugins(entry_points=False))
    (tmp_path / "kept").mkdir()
    (tmp_path / "unaccounted").mkdir()

    for job_id in ("removed", "unaccounted", "kept"):
        collector.collect(UsageRequest(f"rule_{job_id}", job_id, tmp_path / job_id, spec))
    records = collector.records(RECORDS_WAIT_S)

    assert [rule for rule, _ in records] == ["rule_removed", "rule_unaccounted", "rule_kept"]
    assert records[1][1] is None
    assert Usage.load(tmp_path / "kept") == records[2][1]
    assert not (tmp_path / "removed").exists()
