"""qxub's own lines on a terminal: spinner, progress lines, usage summary."""

from __future__ import annotations

import io

from qxub_core.monitor import Coordinator
from qxub_core.progress import ERASE_LINE, TerminalProgress, summarise_usage
from qxub_core.stream import Sink
from qxub_core.usage import Usage

GIB = 1024**3


def terminal() -> tuple[TerminalProgress, io.BytesIO, Sink, Coordinator]:
    screen = io.BytesIO()
    coordinator = Coordinator()
    job_stderr = Sink(screen, "stderr")
    progress = TerminalProgress(screen, coordinator, [job_stderr])
    job_stderr.before_first_write = progress.stop_spinner
    return progress, screen, job_stderr, coordinator


def test_spinner_is_erased_before_the_jobs_first_byte() -> None:
    progress, screen, job_stderr, _ = terminal()
    progress.submitted("j1", "local")
    progress.tick()
    progress.tick()

    job_stderr.write(b"job says hi\n")
    progress.tick()

    text = screen.getvalue()
    assert text.startswith(b"qxub: job j1 submitted to local\n")
    assert text.endswith(ERASE_LINE + b"job says hi\n")
    assert text.count(b"waiting for job j1") == 2


def test_start_is_reported_once_and_only_before_output() -> None:
    progress, screen, _, coordinator = terminal()
    progress.submitted("j1", "local")

    coordinator.job_running.set()
    progress.tick()
    progress.tick()

    assert screen.getvalue().count(b"qxub: job j1 running\n") == 1


def test_start_is_not_reported_for_a_job_that_already_ended() -> None:
    progress, screen, _, coordinator = terminal()
    progress.submitted("j1", "local")

    coordinator.job_running.set()
    coordinator.job_finished.set()
    progress.tick()

    assert b"running" not in screen.getvalue()


def test_progress_line_is_left_out_inside_a_partial_line_and_summary_starts_a_new_one() -> None:
    progress, screen, job_stderr, coordinator = terminal()
    job_stderr.write(b"progress 50%")

    coordinator.job_running.set()
    progress.tick()
    progress.usage_summary(Usage(job_id="j1", source="test", walltime_used_s=12.0))

    assert screen.getvalue() == b"progress 50%\nqxub: walltime 0:00:12\n"


def test_summary_reads_like_the_design() -> None:
    usage = Usage(
        job_id="j1",
        source="test",
        walltime_used_s=720.0,
        cpu_time_s=669.6,
        peak_mem_bytes=int(1.2 * GIB),
        cpus=1,
        walltime_requested_s=7200,
        mem_requested_bytes=16 * GIB,
    )

    assert summarise_usage(usage) == "CPU 93%, memory 1.2 of 16 GB, walltime 0:12:00 of 2:00:00"


def test_small_peaks_read_in_megabytes() -> None:
    usage = Usage(job_id="j1", source="test", peak_mem_bytes=300 * 1024**2, mem_requested_bytes=GIB)

    assert summarise_usage(usage) == "memory 300 MB of 1 GB"
