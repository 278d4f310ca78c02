"""``snakemake --executor qxub``: Snakemake's remote executor over the qxub engine.

Each Snakemake job becomes one qxub job: its command is the line Snakemake formats (Snakemake
itself, in remote mode, for that job), run by the engine's job script with the submitting
environment restored, so the job finds the same Python and tools as the workflow. The status
rounds read the jobs' status files (see :mod:`.status`), Ctrl-C cancels every active job in
one batched call, and each ended job leaves a usage record for the efficiency summary.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snakemake_interface_executor_plugins.executors.base import SubmittedJobInfo
from snakemake_interface_executor_plugins.executors.remote import RemoteExecutor
from snakemake_interface_executor_plugins.jobs import JobExecutorInterface

from qxub_core.job import OBSERVER_DRAIN_S
from qxub_core.jobdir import JobDirError
from qxub_core.logs import configure_logging
from qxub_core.monitor import JOB_DIR_REMOVED, MonitorSettings, Outcome
from qxub_core.plugins import default_plugins
from qxub_core.schedulers import UnknownSchedulerError, make_scheduler
from qxub_core.schedulers.base import Scheduler, SchedulerError
from qxub_core.spec import JobSpec, SpecError
from snakemake_executor_plugin_qxub.configuration import PluginConfig, SettingError, resolve_config
from snakemake_executor_plugin_qxub.logs import job_log_path, remove_job_log, write_job_log
from snakemake_executor_plugin_qxub.resources import (
    QXUB_RESOURCES,
    ResourceError,
    request_from_resources,
)
from snakemake_executor_plugin_qxub.settings import ExecutorSettings
from snakemake_executor_plugin_qxub.status import StatusRounds, describe
from snakemake_executor_plugin_qxub.submission import check_spec, submit_spec
from snakemake_executor_plugin_qxub.summary import SUMMARY_FILE, format_table, summarize, write_csv
from snakemake_executor_plugin_qxub.usage import UsageCollector, UsageRequest
from snakemake_executor_plugin_qxub.wording import job_wording, run_wording

logger = logging.getLogger("qxub.snakemake")

AUX_KEY = "qxub"
SLEEP_STEP_S = 0.05
USAGE_WAIT_S = 10.0
NO_RETRIES_IN_JOB = "--preemptible-retries 0 --preemptible-rules"
RUN_CHECK_NAME = "snakejob"  # the name of the job that checks the run's values at start


@dataclass(frozen=True)
class ActiveJob:
    """What the executor keeps about one submitted Snakemake job."""

    rule: str
    spec: JobSpec
    job_id: str
    job_dir: Path
    log_path: Path


class Executor(RemoteExecutor):
    """Submits Snakemake jobs as qxub jobs and follows them through their status files."""

    def __post_init__(self) -> None:
        configure_logging()  # qxub's own logs, at QXUB_LOG_LEVEL, as under the qxub command
        settings = self.workflow.executor_settings or ExecutorSettings()
        self.config: PluginConfig = resolve_config(settings)
        self.scheduler: Scheduler = self._make_scheduler()
        self._check_run_values()

        monitor_settings = MonitorSettings(
            fallback_interval_s=self.config.fallback_interval_s,
            grace_period_s=self.config.grace_period_s,
        )
        self.status_rounds = StatusRounds(self.scheduler, monitor_settings)
        self.usage_collector = UsageCollector(self.scheduler)
        self.live_jobs: dict[str, SubmittedJobInfo] = {}
        self.live_lock = threading.Lock()
        self.cancelled = False
        self.last_round_error: str | None = None
        self.next_seconds_between_status_checks = self.config.status_interval_s
        logger.debug("qxub executor on %s, job root %s", self.scheduler.name, self.config.job_root)

    def run_job(self, job: JobExecutorInterface) -> None:
        """Submit one job (or group job) as a new scheduler job."""
        try:
            spec = self._spec_for(job)
            submission = submit_spec(spec, self.scheduler, self.config.job_root)
        except (ResourceError, SpecError) as error:
            message = _refusal(job, error, bool(self.config.scheduler_args))
            self.report_job_error(SubmittedJobInfo(job), msg=message)
            return
        except (SchedulerError, JobDirError) as error:
            self.report_job_error(SubmittedJobInfo(job), msg=_submission_failure(error))
            return

        self._report_submitted(job, spec, submission.job_id, submission.job_dir)

    async def check_active_jobs(
        self, active_jobs: list[SubmittedJobInfo]
    ) -> AsyncGenerator[SubmittedJobInfo, None]:
        """Report the jobs that ended; yield the others. Never lets an error escape."""
        if not active_jobs:
            return
        ends = await self._guarded_round(active_jobs)

        for job_info in active_jobs:
            outcome = ends.get(job_info.external_jobid or "")
            if outcome is None:
                yield job_info
                continue
            try:
                self._report_end(job_info, outcome)
            except Exception as error:  # the job is no longer followed: it must end here
                message = f"qxub: reporting the end of job {job_info.external_jobid} failed: "
                self.report_job_error(job_info, msg=f"{message}{error!r}.\n")

    def cancel_jobs(self, active_jobs: list[SubmittedJobInfo]) -> None:
        """Cancel every job still known to be active, in one batched scheduler call."""
        self.cancelled = True
        with self.live_lock:
            job_ids = set(self.live_jobs)
        job_ids.update(info.external_jobid for info in active_jobs if info.external_jobid)
        if not job_ids:
            return

        self.logger.info(f"qxub: cancelling {len(job_ids)} job(s)")
        try:
            self.scheduler.cancel(sorted(job_ids))
        except SchedulerError as error:
            logger.info("cancelling failed: %s", error.detail)
            self.logger.error(f"qxub: cancelling failed: {error}")

    def shutdown(self) -> None:
        """Stop the status thread, then print and write the efficiency summary."""
        super().shutdown()
        try:
            self._write_summary()
        except OSError as error:
            self.logger.error(f"qxub: cannot write the efficiency summary: {error}")
        default_plugins().drain_observers(OBSERVER_DRAIN_S)

    def additional_general_args(self) -> str:
        """Arguments for the Snakemake that runs inside each job: no retries there.

        Inside a job, Snakemake lets a rule's ``retries:`` win over the ``--retries 0`` it is
        given, and would rerun a failed rule in the same allocation with the same resources.
        Zero retries for rules marked preemptible (all of them, with no names given) is the
        one setting that wins over the rule's, so every retry is a new submission from here,
        with the resources of the new attempt.
        """
        return NO_RETRIES_IN_JOB

    async def sleep(self) -> None:
        """Wait for the next status round, waking at once when Snakemake shuts down.

        The interval is read at every step: the first wait starts before ``__post_init__``
        has set it.
        """
        started_s = time.monotonic()
        while self.wait:
            interval_s = float(self.next_seconds_between_status_checks)
            if time.monotonic() - started_s >= interval_s:
                return
            await asyncio.sleep(SLEEP_STEP_S)

    def _make_scheduler(self) -> Scheduler:
        try:
            return make_scheduler(self.config.scheduler, self.config.options)
        except UnknownSchedulerError as error:
            raise SettingError(f"qxub: {error}") from None

    def _check_run_values(self) -> None:
        """Refuse now, in one line, what the run's own values would make every job refuse."""
        try:
            spec = JobSpec(
                command=("true",),
                name=RUN_CHECK_NAME,
                project=self.config.project,
                queue=self.config.queue,
                storage=self.config.storage,
                scheduler_args=self.config.scheduler_args,
            )
            check_spec(spec, self.scheduler, self.config.job_root)
        except SpecError as error:
            raise SettingError(f"qxub: {run_wording(str(error))}") from None

    def _spec_for(self, job: JobExecutorInterface) -> JobSpec:
        request = request_from_resources(dict(job.resources.items()), job.threads)
        return JobSpec(
            command=(self.format_job_exec(job),),
            shell=True,
            name=self._scheduler_job_name(job),
            project=request.project or self.config.project,
            queue=request.queue or self.config.queue,
            resources=request.resources,
            workdir=Path.cwd(),
            environment=dict(os.environ),
            storage=request.storage or self.config.storage,
            raw_resources=request.raw_resources,
            scheduler_args=self.config.scheduler_args + request.scheduler_args,
        )

    def _scheduler_job_name(self, job: JobExecutorInterface) -> str:
        name = str(self.get_jobname(job))
        return name.removesuffix(".sh")

    def _report_submitted(
        self, job: JobExecutorInterface, spec: JobSpec, job_id: str, job_dir: Path
    ) -> None:
        rule = job.name
        log_path = job_log_path(self.config.log_dir, rule, _wildcards(job), job_id)
        active = ActiveJob(rule, spec, job_id, job_dir, log_path)
        job_info = SubmittedJobInfo(job, external_jobid=job_id, aux={AUX_KEY: active})

        with self.live_lock:
            self.live_jobs[job_id] = job_info
            self.status_rounds.follow(job_id, job_dir)
        self.logger.info(
            f"Job {job.jobid} submitted as {self.scheduler.name} job {job_id} "
            f"(job directory {job_dir})"
        )
        self.report_job_submission(job_info)

    async def _status_round(self, active_jobs: Sequence[SubmittedJobInfo]) -> dict[str, Outcome]:
        job_ids = [_active(job_info).job_id for job_info in active_jobs]
        async with self.status_rate_limiter:
            return self.status_rounds.run_round(job_ids)

    async def _guarded_round(self, active_jobs: Sequence[SubmittedJobInfo]) -> dict[str, Outcome]:
        """A status round whose errors are reported (once while they repeat), not raised."""
        try:
            ends = await self._status_round(active_jobs)
        except Exception as error:  # the status thread must survive anything
            text = repr(error)
            if text != self.last_round_error:
                self.logger.error(f"qxub: status check failed, retrying every round: {text}")
            self.last_round_error = text
            return {}

        if self.last_round_error is not None:
            self.logger.info("qxub: status checks work again")
            self.last_round_error = None
        return ends

    def _report_end(self, job_info: SubmittedJobInfo, outcome: Outcome) -> None:
        active = _active(job_info)
        job_id = active.job_id
        with self.live_lock:
            self.live_jobs.pop(job_id, None)
        if outcome.source != JOB_DIR_REMOVED:
            request = UsageRequest(active.rule, job_id, active.job_dir, active.spec)
            self.usage_collector.collect(request)

        if outcome.exit_code == 0:
            self._keep_or_drop_log(active)
            self.report_job_success(job_info)
            return
        log_path = self._write_log(active)
        message = f"qxub: {self.scheduler.name} job {job_id} failed: {describe(outcome)}.\n"
        if log_path is not None:
            message += f"Log: {log_path}\n"
        aux_logs = [str(log_path)] if log_path is not None else []
        self.report_job_error(job_info, msg=message, aux_logs=aux_logs)

    def _keep_or_drop_log(self, active: ActiveJob) -> None:
        """Keep or remove a successful job's log; a failure here only warns."""
        if self.config.keep_successful_logs:
            self._write_log(active)
            return
        try:
            remove_job_log(active.log_path, self.config.log_dir)
        except OSError as error:
            self.logger.warning(f"qxub: cannot remove the log {active.log_path}: {error}")

    def _write_log(self, active: ActiveJob) -> Path | None:
        try:
            return write_job_log(active.job_dir, active.log_path, active.job_id)
        except OSError as error:
            self.logger.warning(f"qxub: cannot write the log {active.log_path}: {error}")
            return None

    def _write_summary(self) -> None:
        records = self.usage_collector.records(0.0 if self.cancelled else USAGE_WAIT_S)
        if not records:
            return
        rows = summarize(records)
        path = write_csv(rows, self.config.log_dir / SUMMARY_FILE)
        self.logger.info(f"qxub efficiency per rule (also in {path}):\n{format_table(rows)}")


def _active(job_info: SubmittedJobInfo) -> ActiveJob:
    aux: Mapping[Any, Any] = job_info.aux or {}
    active: ActiveJob = aux[AUX_KEY]
    return active


def _wildcards(job: JobExecutorInterface) -> dict[str, str]:
    if job.is_group():
        return {}
    wildcards = getattr(job, "wildcards_dict", None) or {}
    return {str(name): str(value) for name, value in wildcards.items()}


def _refusal(
    job: JobExecutorInterface, error: ResourceError | SpecError, run_scheduler_args: bool
) -> str:
    """One line for a job refused before submission, naming the resource or option at fault."""
    if isinstance(error, ResourceError):
        return f"qxub: invalid resource in {job.name}: {error}.\n"
    resources = dict(job.resources.items())
    given = [name for name in QXUB_RESOURCES if resources.get(name) not in (None, "")]
    text = job_wording(str(error), given, run_scheduler_args)
    return f"qxub: cannot submit {job.name}: {text}.\n"


def _submission_failure(error: SchedulerError | JobDirError) -> str:
    """One line for Snakemake; the scheduler's whole answer goes to qxub's log."""
    if isinstance(error, SchedulerError):
        logger.info("submission refused: %s", error.detail)
        return f"qxub: submission refused: {error}.\n"
    return f"qxub: {error}.\n"
