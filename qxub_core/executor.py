"""A :class:`concurrent.futures.Executor` that runs commands as qxub jobs.

``submit`` takes a command instead of a function and returns a future whose result is the job's
exit code; with ``check=True`` a non-zero code raises :class:`~qxub_core.api.JobFailed` from the
future instead. A future stays pending while its job is queued, so cancelling it then cancels
the job; once the job runs it cannot be cancelled through the future (use the session's
:meth:`~qxub_core.api.Job.cancel`). Futures are resolved on a thread of the executor's own, so a
slow done-callback never holds up the monitor.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any

from qxub_core.api import Job, JobFailed, QxubError, Session, job_spec
from qxub_core.spec import JobSpec


class JobExecutor(Executor):
    """Runs each submitted command as a job of ``session`` (a new local-or-auto one by default).

    :param session: where jobs go; ``Session(scheduler)`` when not given.
    :param check: raise :class:`JobFailed` from futures of jobs that exit non-zero.
    :param spec_defaults: keyword arguments of :func:`~qxub_core.api.job_spec` applied to every
        submission (``mem``, ``walltime``, ``queue``, ...), overridable per call.
    """

    def __init__(
        self,
        session: Session | None = None,
        *,
        scheduler: str = "auto",
        check: bool = False,
        **spec_defaults: Any,
    ) -> None:
        self.session = session or Session(scheduler)
        self.check = check
        self.spec_defaults = spec_defaults
        self._watched: list[tuple[Job, Future[int]]] = []
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._shutdown = False
        self._thread: threading.Thread | None = None

    def submit(  # type: ignore[override]
        self, command: str | JobSpec, /, *args: str, **spec_fields: Any
    ) -> Future[int]:
        """Submit ``command`` with ``args`` as an argv, a whole spec, or with ``shell=True`` one
        shell line.

        Raises :class:`~qxub_core.api.SubmissionRefused` at once when the scheduler refuses.
        """
        if self._shutdown:
            raise RuntimeError("cannot submit after shutdown")
        job = self.session.submit(self._spec(command, args, spec_fields))

        future: Future[int] = Future()
        future.add_done_callback(_cancel_job_of_cancelled_future(job))
        with self._lock:
            self._watched.append((job, future))
            self._start_resolver()
        self._changed.set()
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop taking jobs; with ``wait``, return once every future is resolved."""
        self._shutdown = True
        if cancel_futures:
            with self._lock:
                pending = [future for _, future in self._watched if not future.running()]
            for future in pending:
                future.cancel()
        thread = self._thread
        if wait and thread is not None:
            thread.join()

    def _spec(
        self, command: str | JobSpec, args: tuple[str, ...], fields: dict[str, Any]
    ) -> JobSpec:
        if isinstance(command, JobSpec):
            return command
        if fields.pop("shell", False):
            if args:
                raise ValueError("shell=True takes one shell line and no further arguments")
            return job_spec(command, **{**self.spec_defaults, **fields})
        return job_spec([command, *args], **{**self.spec_defaults, **fields})

    def _start_resolver(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._resolve_until_done, name="qxub-futures", daemon=True
            )
            self._thread.start()

    def _resolve_until_done(self) -> None:
        while True:
            with self._lock:
                self._watched = [pair for pair in self._watched if not _resolve(pair, self.check)]
                if not self._watched:
                    self._thread = None
                    return
            self._changed.wait(self.session.settings.poll_interval_s)
            self._changed.clear()


def _resolve(pair: tuple[Job, Future[int]], check: bool) -> bool:
    """Move the future along with its job; whether it is resolved (or cancelled)."""
    job, future = pair
    if future.cancelled():
        return True
    starting = job.started_or_done() and not future.running()
    if starting and not future.set_running_or_notify_cancel():
        return True
    if not job.done():
        return False

    try:
        code = job.wait(0)
    except QxubError as error:
        future.set_exception(error)
        return True
    if check and code != 0:
        future.set_exception(JobFailed(job.job_id, code, job.reason))
    else:
        future.set_result(code)
    return True


def _cancel_job_of_cancelled_future(job: Job) -> Callable[[Future[int]], None]:
    def cancel_job(future: Future[int]) -> None:
        if future.cancelled():
            job.cancel()

    return cancel_job
