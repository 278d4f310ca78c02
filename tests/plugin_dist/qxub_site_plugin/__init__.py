"""A site plugin as a lab would ship it: a scheduler name of its own and an extra prologue line.

Its submit arguments come from ``QXUB_SITE_TEST_SUBMIT_ARGS`` so that tests can choose them, and
its job-started observer blocks forever or raises when ``QXUB_SITE_TEST_OBSERVER`` is ``block``
or ``raise``.
"""

from __future__ import annotations

import os
import shlex
import threading
from collections.abc import Sequence
from pathlib import Path

from qxub_core.hooks import hookimpl
from qxub_core.schedulers.base import JobPhase, JobState, Scheduler
from qxub_core.spec import JobSpec
from qxub_core.usage import Usage


class SiteScheduler(Scheduler):
    """A scheduler the site adds under its own name; it is never asked to run anything here."""

    name = "site"
    job_id_variable = "SITE_JOB_ID"

    def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
        return []

    def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
        return ["site-submit", str(script)]

    def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
        raise NotImplementedError("the test site scheduler submits nothing")

    def cancel(self, job_ids: Sequence[str]) -> None:
        return None

    def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        return {job_id: JobState(job_id, JobPhase.UNKNOWN) for job_id in job_ids}

    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        return None


class SitePlugin:
    @hookimpl
    def qxub_scheduler(self, name: str) -> type[Scheduler] | None:
        return SiteScheduler if name == "site" else None

    @hookimpl
    def qxub_scheduler_names(self) -> list[str]:
        return ["site"]

    @hookimpl
    def qxub_prologue(self) -> list[str]:
        return ["echo site prologue"]

    @hookimpl
    def qxub_submit_args(self) -> list[str]:
        return shlex.split(os.environ.get("QXUB_SITE_TEST_SUBMIT_ARGS", ""))

    @hookimpl
    def qxub_job_started(self, job_id: str) -> None:
        behaviour = os.environ.get("QXUB_SITE_TEST_OBSERVER", "")
        if behaviour == "block":
            threading.Event().wait()
        if behaviour == "raise":
            raise RuntimeError(f"site dashboard unreachable for {job_id}")


plugin = SitePlugin()
