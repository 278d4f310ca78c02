"""Usage records of ended jobs, collected off the status thread.

Accounting can be slow (Slurm's records arrive late), so each ended job's record is fetched by
one background worker, saved as ``usage.json`` in the job directory, and kept with the job's
rule for the efficiency summary at the end of the run.
"""

from __future__ import annotations

import dataclasses
import logging
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from qxub_core.plugins import Plugins, default_plugins
from qxub_core.schedulers.base import Scheduler
from qxub_core.spec import JobSpec
from qxub_core.usage import Usage

logger = logging.getLogger("qxub.snakemake.usage")


@dataclass(frozen=True)
class UsageRequest:
    rule: str
    job_id: str
    job_dir: Path
    spec: JobSpec


class UsageCollector:
    """Fetches and saves usage records one at a time, in a daemon thread started on demand."""

    def __init__(self, scheduler: Scheduler, plugins: Plugins | None = None) -> None:
        self._scheduler = scheduler
        self._plugins = plugins or default_plugins()
        self._requests: queue.Queue[UsageRequest] = queue.Queue()
        self._records: list[tuple[str, Usage | None]] = []
        self._lock = threading.Lock()
        self._pending = 0
        self._worker: threading.Thread | None = None

    def collect(self, request: UsageRequest) -> None:
        """Fetch the usage of an ended job, soon."""
        with self._lock:
            self._pending += 1
            if self._worker is None:
                self._worker = threading.Thread(target=self._work, name="qxub-usage", daemon=True)
                self._worker.start()
        self._requests.put(request)

    def records(self, wait_s: float) -> list[tuple[str, Usage | None]]:
        """The records fetched so far, after waiting up to ``wait_s`` for the pending ones."""
        deadline_s = time.monotonic() + wait_s
        while self._pending_count() and time.monotonic() < deadline_s:
            time.sleep(0.05)
        with self._lock:
            return list(self._records)

    def _pending_count(self) -> int:
        with self._lock:
            return self._pending

    def _work(self) -> None:
        while True:
            request = self._requests.get()
            usage = self._fetch(request)
            with self._lock:
                self._records.append((request.rule, usage))
                self._pending -= 1

    def _fetch(self, request: UsageRequest) -> Usage | None:
        """The job's record, saved in its directory; ``None`` when there is none to be had.

        Nothing here may end the worker: a job directory removed meanwhile, or accounting that
        fails, costs that job its record and no other."""
        try:
            usage = Usage.load(request.job_dir) or self._scheduler.usage(
                request.job_id, request.job_dir, request.spec
            )
        except Exception as error:  # accounting must never break the run
            logger.warning("job %s: usage not available: %s", request.job_id, error)
            return None
        if usage is None:
            return None

        usage = with_requests(usage, request.spec)
        try:
            usage.save(request.job_dir)
        except OSError as error:
            logger.warning("job %s: usage.json not written: %s", request.job_id, error)
        self._plugins.usage_collected(request.job_id, request.job_dir, usage)
        return usage


def with_requests(usage: Usage, spec: JobSpec) -> Usage:
    """``usage`` with the requested figures filled from the spec where the source gave none."""
    resources = spec.resources
    return dataclasses.replace(
        usage,
        cpus=usage.cpus if usage.cpus is not None else resources.cpus,
        mem_requested_bytes=usage.mem_requested_bytes or resources.mem_bytes,
        walltime_requested_s=usage.walltime_requested_s or resources.walltime_s,
    )
