"""The Python API for pipeline runners: submit jobs in code, follow them, collect exit codes.

A :class:`Session` submits jobs to one scheduler and follows all of them in a single monitor
thread (status files for every job, one batched scheduler query at the fallback interval), which
runs only while some job is unfinished and wakes early when a job's status file appears. Each
submission returns a :class:`Job` handle::

    session = Session("local")
    job = session.submit(job_spec(["python3", "align.py"], name="align", mem="4GB"))
    for chunk in job.output():
        sys.stdout.buffer.write(chunk)
    code = job.wait()

A non-zero exit code is a result, not an exception. What a caller may want to catch is raised by
type: :class:`SubmissionRefused` (the scheduler's message, and whether trying again may help),
:class:`JobNeverRan` (the job never ran, or was lost, with the reason), :class:`JobTimeout` and
:class:`JobCancelled`. Plugins registered with the session's :class:`Plugins` see every job.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from qxub_core import exitcodes
from qxub_core.config import ConfigError, load_configuration
from qxub_core.context import build_context
from qxub_core.environment import capture_environment
from qxub_core.monitor import FollowedJob, Monitor, MonitorSettings, Outcome
from qxub_core.plugins import Plugins, default_plugins
from qxub_core.schedulers import UnknownSchedulerError, make_scheduler
from qxub_core.schedulers.base import JobPhase, Scheduler, SchedulerError
from qxub_core.spec import ContextSpec, JobSpec, Resources, parse_memory_bytes, parse_walltime_s
from qxub_core.status import ERR_FILE, OUT_FILE
from qxub_core.submission import Submission, submit_job
from qxub_core.usage import Usage
from qxub_core.usage_collection import collect_usage
from qxub_core.wakeup import DirectoryWatch

logger = logging.getLogger(__name__)

OUTPUT_CHUNK_BYTES = 1 << 16
STALE_WATCHES_LIMIT = 256  # ended jobs' directories left watched before the watch is renewed
MONITOR_DEFAULTS = MonitorSettings()

# Signalled whenever any job of any session ends, so that waiting on many jobs is one wait.
_job_ended = threading.Condition()


class QxubError(Exception):
    """Base of the errors the API raises about jobs."""


class SessionError(QxubError, ValueError):
    """The session cannot start: an unknown scheduler or an unreadable configuration."""


class SubmissionRefused(QxubError):
    """The scheduler refused the job; nothing was queued.

    ``transient`` says whether trying again later may help (server busy, timeout) rather than
    the job being wrong for this scheduler (unknown queue, resources over a limit).
    """

    def __init__(self, message: str, *, transient: bool, command: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.transient = transient
        self.command = tuple(command)


class JobNeverRan(QxubError):
    """The job never ran (deleted while queued, context failed) or was lost; ``reason`` says."""

    def __init__(self, job_id: str, reason: str) -> None:
        super().__init__(f"job {job_id}: {reason}")
        self.job_id = job_id
        self.reason = reason


class JobTimeout(QxubError, TimeoutError):
    """A wait ran out of time; the jobs carry on and can be waited for again."""


class JobCancelled(QxubError):
    """The job was cancelled through its handle (or its future) before it ended by itself."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} was cancelled")
        self.job_id = job_id


class JobFailed(QxubError):
    """Raised instead of returning a non-zero exit code, where a caller asked for that."""

    def __init__(self, job_id: str, exit_code: int, reason: str | None) -> None:
        super().__init__(f"job {job_id} exited {exit_code}" + (f": {reason}" if reason else ""))
        self.job_id = job_id
        self.exit_code = exit_code
        self.reason = reason


def job_spec(
    command: Sequence[str] | str,
    *,
    name: str = "qxub",
    cpus: int | None = None,
    mem: str | None = None,
    walltime: str | None = None,
    gpus: int | None = None,
    queue: str | None = None,
    project: str | None = None,
    workdir: Path | str | None = None,
    variables: Mapping[str, str] | None = None,
    clean_env: bool = False,
    context: str | None = None,
    conda_env: str | None = None,
    modules: Sequence[str] = (),
    image: str | None = None,
    binds: Sequence[str] = (),
    scheduler_args: Sequence[str] = (),
) -> JobSpec:
    """A job spec from the values a user would type (``mem="16GB"``, ``walltime="2h"``).

    ``command`` is an argv, passed to the job word for word, or a string run as one shell line.
    The submitting environment is captured now unless ``clean_env``. ``context`` names a context
    kind a plugin provides; otherwise the kind follows from ``conda_env``, ``modules``, ``image``.
    Bad values raise :class:`qxub_core.spec.SpecError` naming the option and accepted forms.
    """
    shell = isinstance(command, str)
    execution_context = build_context(conda_env, modules, image, binds)
    if context is not None:
        execution_context = _with_kind(execution_context, context)

    return JobSpec(
        command=(command,) if isinstance(command, str) else tuple(command),
        shell=shell,
        name=name,
        project=project,
        queue=queue,
        resources=Resources(
            cpus=cpus,
            mem_bytes=parse_memory_bytes(mem, "mem") if mem is not None else None,
            walltime_s=parse_walltime_s(walltime, "walltime") if walltime is not None else None,
            gpus=gpus,
        ),
        context=execution_context,
        workdir=Path(workdir) if workdir is not None else Path.cwd(),
        variables=dict(variables or {}),
        clean_env=clean_env,
        environment=None if clean_env else capture_environment(),
        scheduler_args=tuple(scheduler_args),
    )


class Job:
    """A submitted job: its id, where it stands, its output, and eventually its exit code."""

    def __init__(self, submission: Submission, session: Session) -> None:
        self.job_id = submission.job_id
        self.job_dir = submission.job_dir
        self.spec = submission.spec
        self.scheduler = submission.scheduler
        self._session = session
        self._phase = JobPhase.QUEUED
        self._outcome: Outcome | None = None
        self._cancel_requested = False
        self._usage: Usage | None = None
        self._usage_done = threading.Event()
        self._ended = threading.Event()

    def __repr__(self) -> str:
        return f"<Job {self.job_id} {self._phase.value}>"

    @property
    def state(self) -> JobPhase:
        """QUEUED until the job script starts, RUNNING until its outcome is known, then ENDED."""
        return self._phase

    @property
    def out_path(self) -> Path:
        """The file the job's stdout is appended to while it runs."""
        return self.job_dir / OUT_FILE

    @property
    def err_path(self) -> Path:
        """The file the job's stderr is appended to while it runs."""
        return self.job_dir / ERR_FILE

    @property
    def reason(self) -> str | None:
        """Why the job ended as it did, when qxub chose the exit code itself."""
        return self._outcome.reason if self._outcome else None

    def done(self) -> bool:
        """Whether the job's outcome is known."""
        return self._ended.is_set()

    def started_or_done(self) -> bool:
        """Whether the job script has started (or the job has an outcome without starting)."""
        return self._phase is not JobPhase.QUEUED

    def wait(self, timeout: float | None = None) -> int:
        """Block until the job ends and return its exit code (qxub's exit-code table).

        Raises :class:`JobTimeout` when ``timeout`` seconds pass first, :class:`JobNeverRan`
        when it never ran or was lost, :class:`JobCancelled` when it was cancelled.
        """
        if not self._ended.wait(timeout):
            raise JobTimeout(f"job {self.job_id} did not end within {timeout:g}s")
        return self._result()

    def cancel(self) -> None:
        """Ask the scheduler to cancel the job; cancelling a job that has ended does nothing."""
        if self.done():
            return
        self._cancel_requested = True
        self._session.cancel([self])

    def output(self, stream: str = "out", poll_interval_s: float | None = None) -> Iterator[bytes]:
        """The job's ``out`` (or ``err``) bytes as they arrive, unchanged, until it has ended."""
        paths = {OUT_FILE: self.out_path, ERR_FILE: self.err_path}
        if stream not in paths:
            raise ValueError(f"unknown stream {stream!r}; choose one of {', '.join(paths)}")
        path = paths[stream]
        interval_s = poll_interval_s or self._session.settings.poll_interval_s
        offset = 0
        while True:
            ended = self.done()
            chunk = _read_from(path, offset)
            while chunk:
                offset += len(chunk)
                yield chunk
                chunk = _read_from(path, offset)
            if ended:
                return
            self._ended.wait(interval_s)

    def usage(self, timeout: float | None = None) -> Usage | None:
        """The usage record once collected (``None`` when the scheduler keeps none).

        Raises :class:`JobTimeout` when it is not collected within ``timeout`` seconds.
        """
        if not self._usage_done.wait(timeout):
            raise JobTimeout(f"job {self.job_id}: usage not collected within {timeout:g}s")
        return self._usage

    def _result(self) -> int:
        outcome = self._outcome
        assert outcome is not None
        if self._cancel_requested:
            raise JobCancelled(self.job_id)
        if outcome.exit_code == exitcodes.NEVER_RAN and outcome.reason:
            raise JobNeverRan(self.job_id, outcome.reason)
        return outcome.exit_code

    def _mark_started(self) -> None:
        self._phase = JobPhase.RUNNING

    def _mark_ended(self, outcome: Outcome) -> None:
        self._outcome = outcome
        self._phase = JobPhase.ENDED
        with _job_ended:
            self._ended.set()
            _job_ended.notify_all()

    def _mark_usage(self, usage: Usage | None) -> None:
        self._usage = usage
        self._usage_done.set()


class Session:
    """Jobs on one scheduler, followed together by one monitor thread.

    :param scheduler: ``local``, ``pbs``, ``slurm``, ``auto`` or a name a plugin provides.
    :param options: configuration values for the adapter and the monitor (``poll_interval_s``,
        ``fallback_interval_s``, ``grace_period_s``, ``job_root``, ...), over qxub's layered
        configuration (files, then ``QXUB_<KEY>`` environment variables) as the command line
        reads it.
    :param plugins: the plugins to use; by default the process's (built-ins, entry points and
        run-time registrations).
    """

    def __init__(
        self,
        scheduler: str = "auto",
        *,
        options: Mapping[str, Any] | None = None,
        plugins: Plugins | None = None,
    ) -> None:
        self.plugins = plugins or default_plugins()
        try:
            self.options = {**load_configuration().as_options(), **(options or {})}
            self.adapter: Scheduler = make_scheduler(scheduler, self.options, self.plugins)
        except (ConfigError, UnknownSchedulerError) as error:
            raise SessionError(str(error)) from None
        self.settings = _monitor_settings(self.options)
        self.job_root = Path(self.options["job_root"]).absolute()
        self._loop = _MonitorLoop(self)

    def submit(self, spec: JobSpec) -> Job:
        """Submit one job; raises :class:`SubmissionRefused` when the scheduler refuses it."""
        try:
            submission = submit_job(spec, self.adapter, self.job_root, self.plugins)
        except SchedulerError as error:
            raise SubmissionRefused(
                str(error), transient=error.transient, command=error.command
            ) from error

        job = Job(submission, self)
        self._loop.follow(job)
        return job

    def submit_all(self, specs: Iterable[JobSpec]) -> list[Job]:
        """Submit many jobs; all are followed by the same monitor thread."""
        return [self.submit(spec) for spec in specs]

    def cancel(self, jobs: Sequence[Job]) -> None:
        """Cancel many jobs in one scheduler call."""
        self.adapter.cancel([job.job_id for job in jobs])


def wait_any(jobs: Iterable[Job], timeout: float | None = None) -> Job:
    """The first of ``jobs`` to have ended (one already ended is returned at once)."""
    candidates = list(jobs)
    with _job_ended:
        finished = _job_ended.wait_for(
            lambda: next((job for job in candidates if job.done()), None), timeout
        )
    if finished is None:
        raise JobTimeout(f"none of {len(candidates)} jobs ended within {timeout:g}s")
    return finished


def wait_all(jobs: Iterable[Job], timeout: float | None = None) -> list[int]:
    """Wait until every job has ended; their exit codes, in order.

    Raises as :meth:`Job.wait` for the first job that never ran or was cancelled.
    """
    candidates = list(jobs)
    with _job_ended:
        ended = _job_ended.wait_for(lambda: all(job.done() for job in candidates), timeout)
    if not ended:
        pending = sum(not job.done() for job in candidates)
        raise JobTimeout(f"{pending} of {len(candidates)} jobs did not end within {timeout:g}s")
    return [job.wait() for job in candidates]


def as_completed(jobs: Iterable[Job], timeout: float | None = None) -> Iterator[Job]:
    """``jobs`` in the order they end; raises :class:`JobTimeout` once ``timeout`` has passed."""
    remaining = list(jobs)
    deadline = None if timeout is None else time.monotonic() + timeout
    while remaining:
        left_s = None if deadline is None else max(0.0, deadline - time.monotonic())
        job = wait_any(remaining, left_s)
        remaining.remove(job)
        yield job


class _MonitorLoop:
    """The session's one monitor thread, running while any of its jobs is unfinished."""

    def __init__(self, session: Session) -> None:
        self._session = session
        self._monitor = Monitor(session.adapter, session.settings)
        self._jobs: dict[str, Job] = {}
        self._incoming: list[Job] = []
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._ended_since_watch = 0
        self._usage_queue: queue.SimpleQueue[Job] = queue.SimpleQueue()
        self._usage_thread: threading.Thread | None = None

    def follow(self, job: Job) -> None:
        with self._lock:
            self._incoming.append(job)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="qxub-monitor", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        """Tick, report, then sleep a poll interval or until a status file appears."""
        watch = DirectoryWatch()
        try:
            while self._adopt_incoming(watch):
                busy = self._tick()
                if not busy:
                    watch = self._renewed(watch)
                    if watch.sleep(self._session.settings.poll_interval_s):
                        self._monitor.job_dir_went_away()
        finally:
            watch.close()

    def _tick(self) -> bool:
        try:
            busy = self._monitor.tick()
        except Exception as error:
            self._abandon_all(f"qxub stopped following the job: {error}")
            logger.debug("monitor tick failed", exc_info=True)
            return True

        self._report(list(self._monitor.jobs.values()))
        return busy

    def _renewed(self, watch: DirectoryWatch) -> DirectoryWatch:
        """A fresh watch on the unfinished jobs once many ended jobs' directories are watched."""
        if self._ended_since_watch < STALE_WATCHES_LIMIT:
            return watch

        watch.close()
        renewed = DirectoryWatch()
        for followed in self._monitor.jobs.values():
            renewed.watch(followed.job_dir)
        self._ended_since_watch = 0
        return renewed

    def _adopt_incoming(self, watch: DirectoryWatch) -> bool:
        """Take new jobs into the monitor; ``False`` (and the thread ends) when none is left."""
        with self._lock:
            for job in self._incoming:
                self._jobs[job.job_id] = job
                self._monitor.follow(job.job_id, job.job_dir)
                watch.watch(job.job_dir)
            self._incoming.clear()
            if not self._monitor.jobs:
                self._thread = None
                return False
            return True

    def _report(self, followed: Sequence[FollowedJob]) -> None:
        plugins = self._session.plugins
        for entry in followed:
            job = self._jobs[entry.job_id]
            if entry.started is not None and job.state is JobPhase.QUEUED:
                job._mark_started()
                plugins.job_started(job.job_id, job.job_dir, entry.started.host)
            if entry.outcome is not None:
                self._end(job, entry.outcome)

    def _end(self, job: Job, outcome: Outcome) -> None:
        if job.state is JobPhase.QUEUED:
            job._mark_started()
        del self._monitor.jobs[job.job_id]
        del self._jobs[job.job_id]
        self._ended_since_watch += 1

        self._session.plugins.job_finished(
            job.job_id, job.job_dir, outcome.exit_code, outcome.reason
        )
        job._mark_ended(outcome)
        self._collect_usage_later(job)

    def _abandon_all(self, reason: str) -> None:
        for job_id in list(self._monitor.jobs):
            self._end(self._jobs[job_id], Outcome(job_id, exitcodes.NEVER_RAN, reason))

    def _collect_usage_later(self, job: Job) -> None:
        self._usage_queue.put(job)
        if self._usage_thread is None:
            self._usage_thread = threading.Thread(
                target=self._collect_usage_forever, name="qxub-usage", daemon=True
            )
            self._usage_thread.start()

    def _collect_usage_forever(self) -> None:
        while True:
            job = self._usage_queue.get()
            job._mark_usage(self._collect_usage(job))

    def _collect_usage(self, job: Job) -> Usage | None:
        usage = collect_usage(self._session.adapter, job.job_id, job.job_dir, job.spec)
        if usage is not None:
            self._session.plugins.usage_collected(job.job_id, job.job_dir, usage)
        return usage


def _read_from(path: Path, offset: int) -> bytes:
    try:
        with open(path, "rb") as handle:
            handle.seek(offset)
            return handle.read(OUTPUT_CHUNK_BYTES)
    except FileNotFoundError:
        return b""


def _with_kind(context: ContextSpec, kind: str) -> ContextSpec:
    return dataclasses.replace(context, kind=kind)


def _monitor_settings(options: Mapping[str, Any]) -> MonitorSettings:
    return MonitorSettings(
        poll_interval_s=float(options.get("poll_interval_s", MONITOR_DEFAULTS.poll_interval_s)),
        fallback_interval_s=float(
            options.get("fallback_interval_s", MONITOR_DEFAULTS.fallback_interval_s)
        ),
        grace_period_s=float(options.get("grace_period_s", MONITOR_DEFAULTS.grace_period_s)),
    )
