"""One job from spec to exit code: the flow behind ``qxub -- command``.

:func:`run_job` creates the job directory, writes the captured environment and the job script,
submits, follows the job with the monitor and maps its end into qxub's exit-code table. SIGINT
and SIGTERM cancel the job, wait until it is gone and return 130 or 143. The usage record is
collected in the background once the exit code is known, so the prompt never waits for it;
with ``hand_off_usage`` a collection still running at return moves to a detached process.
Plugins are told of the job's submission, start, end and usage as they happen; before
returning, observers get a short, bounded time to take the events already queued.
"""

from __future__ import annotations

import enum
import logging
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import BinaryIO

from qxub_core import exitcodes
from qxub_core.monitor import JOB_DIR_REMOVED, Coordinator, Monitor, MonitorSettings, Outcome
from qxub_core.plugins import Plugins, default_plugins
from qxub_core.progress import TerminalProgress
from qxub_core.schedulers.base import JobPhase, Scheduler, SchedulerError
from qxub_core.spec import JobSpec
from qxub_core.status import ERR_FILE, OUT_FILE
from qxub_core.stream import FileFollower, Sink
from qxub_core.usage import Usage
from qxub_core.usage_collection import collect_usage

logger = logging.getLogger(__name__)

CANCEL_WAIT_S = 60.0
CANCEL_FIRST_QUERY_S = 0.05  # after a cancel, asking whether the job is gone backs off from this
CANCEL_LAST_QUERY_S = 2.0  # to this, so a slow scheduler is not asked ten times a second
SUMMARY_WAIT_S = 0.05  # on a terminal only: how long the summary line may wait for usage
HANDLED_SIGNALS = (signal.SIGINT, signal.SIGTERM)  # handled even where they started ignored
HANGUP_SIGNALS = (signal.SIGHUP,)  # handled unless ignored (``nohup qxub`` keeps the job going)
OBSERVER_DRAIN_S = 1.0  # the longest qxub's exit waits for observers to take queued events


class Mode(enum.Enum):
    """How much of the job qxub shows (see docs/streaming.md)."""

    NORMAL = "normal"  # stream the job's output; progress lines only on a terminal
    TERSE = "terse"  # the job id on stdout, then silence until the exit code
    QUIET = "quiet"  # nothing at all; the exit code only
    NO_WAIT = "no-wait"  # the job id on stdout, return at once


@dataclass(frozen=True)
class RunOptions:
    """How :func:`run_job` runs a job. ``stdout``/``stderr`` default to this process's own."""

    job_root: Path
    mode: Mode = Mode.NORMAL
    poll_interval_s: float = 0.1
    fallback_interval_s: float = 60.0
    grace_period_s: float = 10.0
    prologue: tuple[str, ...] = ()
    epilogue: tuple[str, ...] = ()
    stdout: BinaryIO | None = None
    stderr: BinaryIO | None = None
    interactive: bool | None = None  # progress on stderr; ``None``: when stderr is a terminal
    plugins: Plugins | None = None  # ``None``: the process's plugins
    # The caller exits at once (the ``qxub`` command): a usage collection still running at
    # return is handed to a detached process, for adapters that ask for it.
    hand_off_usage: bool = False

    @property
    def monitor_settings(self) -> MonitorSettings:
        return MonitorSettings(self.poll_interval_s, self.fallback_interval_s, self.grace_period_s)


class SubmittedJob:
    """A job qxub submitted: where it lives and, once known, its usage collection thread."""

    def __init__(
        self, job_id: str, job_dir: Path, spec: JobSpec, scheduler: Scheduler, plugins: Plugins
    ) -> None:
        self.job_id = job_id
        self.job_dir = job_dir
        self.spec = spec
        self.scheduler = scheduler
        self.plugins = plugins
        self.usage: Usage | None = None
        self.usage_thread: threading.Thread | None = None

    def collect_usage_in_background(self) -> threading.Thread:
        """Ask the scheduler for the usage record off the exit path; it lands in usage.json."""
        self.usage_thread = threading.Thread(
            target=self._collect_usage, name=f"qxub-usage-{self.job_id}", daemon=True
        )
        self.usage_thread.start()
        return self.usage_thread

    @property
    def collecting_usage(self) -> bool:
        return self.usage_thread is not None and self.usage_thread.is_alive()

    def _collect_usage(self) -> None:
        usage = collect_usage(self.scheduler, self.job_id, self.job_dir, self.spec)
        if usage is None:
            return

        self.usage = usage
        logger.debug("Job %s: usage collected", self.job_id)
        self.plugins.usage_collected(self.job_id, self.job_dir, usage)


class JobRun:
    """The state of one ``run_job`` call, split into its steps."""

    def __init__(self, spec: JobSpec, scheduler: Scheduler, options: RunOptions) -> None:
        self.spec = spec
        self.scheduler = scheduler
        self.options = options
        self.mode = options.mode
        self.stdout = options.stdout or sys.stdout.buffer
        self.stderr = options.stderr or sys.stderr.buffer
        self.coordinator = Coordinator()
        self.stdout_sink = Sink(self.stdout, "stdout")
        self.stderr_sink = Sink(self.stderr, "stderr")
        self.progress = self._progress()
        self.plugins = options.plugins or default_plugins()
        self.job: SubmittedJob | None = None
        self.start_reported = False

    def run(self) -> int:
        with _signals_to(self.coordinator):
            code = self._run()
        if not self.plugins.drain_observers(OBSERVER_DRAIN_S):
            logger.warning("observers still busy after %gs; not waiting for them", OBSERVER_DRAIN_S)
        self._hand_off_usage()
        return code

    def _run(self) -> int:
        job_dir = self._prepare()
        if job_dir is None:
            return exitcodes.NEVER_RAN
        if self.coordinator.shutdown_requested.is_set():
            return self._interrupted_before_submission()

        job_id = self._submit(job_dir)
        if job_id is None and self.coordinator.shutdown_requested.is_set():
            return _interrupted_code(self.coordinator.shutdown_signal)
        if job_id is None:
            return exitcodes.NEVER_RAN
        self.job = SubmittedJob(job_id, job_dir, self.spec, self.scheduler, self.plugins)
        self._announce(job_id)
        if self.mode is Mode.NO_WAIT:
            return 0

        monitor = self._monitor(job_id, job_dir)
        outcome = monitor.run(lambda: self._between_ticks(monitor))
        if outcome is None:
            return self._cancel(monitor)
        return self._finish(outcome[0])

    def _hand_off_usage(self) -> None:
        """Leave a usage collection still running to a detached process, when asked to."""
        job = self.job
        if job is None or not job.collecting_usage:
            return
        if not (self.options.hand_off_usage and self.scheduler.usage_collected_detached):
            return

        from qxub_core.usage_collection import UsageCollection, start_detached_collection

        collection = UsageCollection.of(self.scheduler, job.job_id, job.job_dir, job.spec)
        try:
            start_detached_collection(collection)
        except OSError as exc:
            logger.warning("Job %s: usage collection not handed off: %s", job.job_id, exc)

    def _progress(self) -> TerminalProgress | None:
        interactive = self.options.interactive
        if interactive is None:
            interactive = _is_terminal(self.stderr)
        if self.mode is not Mode.NORMAL or not interactive:
            return None

        progress = TerminalProgress(
            self.stderr, self.coordinator, [self.stdout_sink, self.stderr_sink]
        )
        for sink in (self.stdout_sink, self.stderr_sink):
            sink.before_first_write = progress.stop_spinner
        return progress

    def _prepare(self) -> Path | None:
        """The job directory with the environment and the script in it, or ``None`` (said why).

        The spec becomes the one submitted: with the plugins' submit arguments.
        """
        from qxub_core.submission import prepare_job

        try:
            prepared = prepare_job(
                self.spec,
                self.scheduler,
                self.options.job_root,
                self.plugins,
                self.options.prologue,
                self.options.epilogue,
            )
        except OSError as exc:
            self._say(_one_line(exc))
            return None
        self.spec = prepared.spec
        logger.debug("job script %s", prepared.script)
        return prepared.job_dir

    def _submit(self, job_dir: Path) -> str | None:
        from qxub_core.status import SCRIPT_FILE
        from qxub_core.submission import forget_refused

        script = job_dir / SCRIPT_FILE
        logger.debug("submitting: %s", self.scheduler.submit_command(script, job_dir, self.spec))
        try:
            job_id = self.scheduler.submit(script, job_dir, self.spec)
        except SchedulerError as exc:
            logger.info("submission refused: %s", exc.detail)
            if self.coordinator.shutdown_requested.is_set():
                self._say(f"interrupted while submitting; {self.scheduler.name} said: {exc}")
            else:
                self._say(f"submission refused by {self.scheduler.name}: {exc}")
                forget_refused(job_dir, exc)
            return None
        self.coordinator.submission_complete.set()
        logger.info("Job %s: submitted to %s (%s)", job_id, self.scheduler.name, job_dir)
        self.plugins.job_submitted(self.spec, job_id, job_dir, self.scheduler.name)
        return job_id

    def _announce(self, job_id: str) -> None:
        if self.mode in (Mode.TERSE, Mode.NO_WAIT):
            self.stdout_sink.write(f"{job_id}\n".encode())
        if self.progress is not None:
            self.progress.submitted(job_id, self.scheduler.name)

    def _monitor(self, job_id: str, job_dir: Path) -> Monitor:
        monitor = Monitor(self.scheduler, self.options.monitor_settings, self.coordinator)
        followers = []
        if self.mode is Mode.NORMAL:
            followers = [
                FileFollower(job_dir / OUT_FILE, [self.stdout_sink]),
                FileFollower(job_dir / ERR_FILE, [self.stderr_sink]),
            ]
        monitor.follow(job_id, job_dir, followers)
        return monitor

    def _between_ticks(self, monitor: Monitor) -> None:
        """After each monitor tick: the spinner, and telling observers the job started."""
        if self.progress is not None:
            self.progress.tick()
        if self.start_reported or self.job is None:
            return

        followed = monitor.jobs[self.job.job_id]
        if followed.started is not None:
            self.start_reported = True
            self.plugins.job_started(self.job.job_id, self.job.job_dir, followed.started.host)

    def _finish(self, outcome: Outcome) -> int:
        assert self.job is not None
        self.plugins.job_finished(
            outcome.job_id, self.job.job_dir, outcome.exit_code, outcome.reason
        )
        if outcome.reason is not None and outcome.exit_code != 0:
            self._say(f"job {outcome.job_id}: {outcome.reason}", fresh=True)
        if outcome.source == JOB_DIR_REMOVED:
            return outcome.exit_code

        usage_thread = self.job.collect_usage_in_background()
        if self.progress is not None:
            usage_thread.join(SUMMARY_WAIT_S)
            if self.job.usage is not None:
                self.progress.usage_summary(self.job.usage)
        return outcome.exit_code

    def _cancel(self, monitor: Monitor) -> int:
        """Cancel the job after SIGINT/SIGTERM; return once it is gone (or said it is not)."""
        assert self.job is not None
        if self.progress is not None:
            self.progress.stop_spinner()
        code = _interrupted_code(self.coordinator.shutdown_signal)

        gone = self._cancel_and_wait(self.job.job_id)
        monitor.drain()
        if gone:
            self._say(f"interrupted: job {self.job.job_id} cancelled", fresh=True)
        else:
            self._say(f"interrupted: job {self.job.job_id} may still be running", fresh=True)
        return code

    def _cancel_and_wait(self, job_id: str) -> bool:
        """Cancel, then ask until the scheduler says the job is over; a new signal re-cancels."""
        signals_seen = self.coordinator.signal_count
        deadline = time.monotonic() + CANCEL_WAIT_S
        interval_s = CANCEL_FIRST_QUERY_S
        self._cancel_once(job_id)
        while time.monotonic() < deadline:
            if self._job_over(job_id):
                return True
            if self.coordinator.signal_count != signals_seen:
                signals_seen = self.coordinator.signal_count
                self._cancel_once(job_id)
            time.sleep(interval_s)
            interval_s = min(interval_s * 1.5, CANCEL_LAST_QUERY_S)
        return False

    def _cancel_once(self, job_id: str) -> None:
        try:
            self.scheduler.cancel([job_id])
        except SchedulerError as exc:
            logger.warning("Job %s: cancel failed: %s", job_id, exc)

    def _job_over(self, job_id: str) -> bool:
        try:
            state = self.scheduler.query([job_id])[job_id]
        except (SchedulerError, KeyError) as exc:
            logger.debug("Job %s: query after cancel failed: %s", job_id, exc)
            return False
        return state.phase in (JobPhase.ENDED, JobPhase.UNKNOWN)

    def _interrupted_before_submission(self) -> int:
        self._say("interrupted before the job was submitted")
        return _interrupted_code(self.coordinator.shutdown_signal)

    def _say(self, message: str, fresh: bool = False) -> None:
        """A one-line message of qxub's own on stderr, in every mode but quiet."""
        if self.mode is Mode.QUIET:
            return
        prefix = b"\n" if fresh and not self.stderr_sink.at_line_start else b""
        line = prefix + f"qxub: {message}\n".encode(errors="replace")
        try:
            self.stderr.write(line)
            self.stderr.flush()
        except (OSError, ValueError):
            return
        self.stderr_sink.at_line_start = True


def run_job(spec: JobSpec, scheduler: Scheduler, options: RunOptions) -> int:
    """Run one job as if at the user's prompt and return qxub's exit code for it."""
    return JobRun(spec, scheduler, options).run()


@contextmanager
def _signals_to(coordinator: Coordinator) -> Iterator[None]:
    """Route SIGINT, SIGTERM and SIGHUP to the coordinator.

    SIGINT and SIGTERM are routed even where they started out ignored; SIGHUP (the terminal
    closed) only where it is not ignored, so that ``nohup qxub`` keeps its job. Outside the main
    thread signal handlers cannot be installed; the caller handles signals.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def request_shutdown(signum: int, frame: FrameType | None) -> None:
        coordinator.request_shutdown(signum)

    handled = [
        *HANDLED_SIGNALS,
        *(signum for signum in HANGUP_SIGNALS if signal.getsignal(signum) is not signal.SIG_IGN),
    ]
    previous = {signum: signal.signal(signum, request_shutdown) for signum in handled}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupted_code(signum: int | None) -> int:
    """130 for SIGINT, 143 for SIGTERM, 129 for SIGHUP: as the shell reports a signal death."""
    return exitcodes.from_signal(signum) if signum is not None else exitcodes.INTERRUPTED


def _is_terminal(handle: BinaryIO) -> bool:
    try:
        return handle.isatty()
    except (OSError, ValueError):
        return False


def _one_line(exc: OSError) -> str:
    text = str(exc) if exc.args and isinstance(exc.args[0], str) and len(exc.args) == 1 else ""
    if not text:
        target = f" {exc.filename}" if exc.filename else ""
        text = f"cannot write the job's files{target}: {exc.strerror or exc}"
    return text.splitlines()[0]
