"""A scheduler adapter that only renders: for tests of the job script that submit nothing."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from qxub_core.schedulers.base import JobState, Scheduler
from qxub_core.spec import JobSpec
from qxub_core.usage import Usage


class RenderOnlyScheduler(Scheduler):
    """Renders like the local backend (same job id variable, no directives)."""

    name = "render-only"
    job_id_variable = "QXUB_LOCAL_JOB_ID"

    def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
        return []

    def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
        return ["bash", str(script)]

    def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
        raise NotImplementedError("this adapter only renders")

    def cancel(self, job_ids: Sequence[str]) -> None:
        raise NotImplementedError("this adapter only renders")

    def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        raise NotImplementedError("this adapter only renders")

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        return None
