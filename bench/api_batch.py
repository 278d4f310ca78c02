"""A batch of jobs through the Python API on the local backend, with qxub's default intervals.

Figures: the median from each job's last write to ``as_completed`` handing it back (target: the
same as qxub's exit, < 0.1 s), how many monitor threads followed the batch (target: 1), how many
scheduler status queries the batch cost (target: none before the 60 s fallback), and what telling
an observer costs the monitor thread per event.
"""

from __future__ import annotations

import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from qxub_process import report

from qxub_core.api import Job, Session, as_completed, job_spec
from qxub_core.hooks import hookimpl
from qxub_core.plugins import Plugins
from qxub_core.schedulers.base import JobState

JOBS = 20
NOTIFICATIONS = 2000


def last_write_program(delay_s: float) -> list[str]:
    line = f"import time; time.sleep({delay_s:.2f}); print(time.time(), flush=True)"
    return [sys.executable, "-c", line]


class QueryCounter:
    """Counts the scheduler status queries the session's monitor makes."""

    def __init__(self, session: Session) -> None:
        self.calls = 0
        self._query = session.adapter.query
        session.adapter.query = self._counted  # type: ignore[method-assign]

    def _counted(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        self.calls += 1
        return self._query(job_ids)


def monitor_thread_count() -> int:
    return sum(thread.name == "qxub-monitor" for thread in threading.enumerate())


def run_batch(session: Session) -> tuple[list[float], int]:
    specs = [
        job_spec(last_write_program(0.5 + 0.1 * index), name=f"bench{index}")
        for index in range(JOBS)
    ]
    jobs = session.submit_all(specs)
    most_threads = monitor_thread_count()

    latencies_s = []
    for job in as_completed(jobs, timeout=300):
        returned_at = time.time()
        latencies_s.append(returned_at - last_write_time(job))
        most_threads = max(most_threads, monitor_thread_count())
    return latencies_s, most_threads


def last_write_time(job: Job) -> float:
    return float(job.out_path.read_text().split()[-1])


class Silent:
    @hookimpl
    def qxub_job_finished(self, exit_code: int) -> None:
        return None


def notification_cost_s(plugins: Plugins, job_dir: Path) -> list[float]:
    plugins.register(Silent())
    samples_s = []
    for _ in range(NOTIFICATIONS):
        started = time.perf_counter()
        plugins.job_finished("bench.1", job_dir, 0, None)
        samples_s.append(time.perf_counter() - started)
    plugins.drain_observers(timeout_s=30)
    return samples_s


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="qxub-bench-"))
    plugins = Plugins(entry_points=False)
    session = Session("local", options={"job_root": root / "jobs"}, plugins=plugins)
    counter = QueryCounter(session)

    latencies_s, threads = run_batch(session)

    report(f"job's last write -> as_completed ({JOBS} jobs)", latencies_s, target="< 0.1 s")
    print(f"monitor threads following the batch: {threads} (target: 1)")
    print(f"scheduler status queries for the batch: {counter.calls} (target: 0 before 60 s)")
    cost_us = [sample_s * 1e6 for sample_s in notification_cost_s(plugins, root)]
    report("observer notification, monitor side", cost_us, unit="us")


if __name__ == "__main__":
    main()
