"""qxub's peak RSS while streaming 1 GB of job output (target: flat, under 100 MB)."""

from __future__ import annotations

import resource
import time

from qxub_process import job_root, start_qxub

SIZE_BYTES = 1 << 30


def main() -> None:
    started = time.monotonic()
    with open("/dev/null", "wb") as sink:
        process = start_qxub(
            ["--", "head", "-c", str(SIZE_BYTES), "/dev/zero"], job_root(), stdout=sink
        )
        process.wait(timeout=600)
    elapsed_s = time.monotonic() - started

    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(
        f"peak RSS of qxub streaming 1 GB: {peak_mb:.1f} MB (target < 100 MB); "
        f"{elapsed_s:.1f} s, {SIZE_BYTES / elapsed_s / 2**20:.0f} MB/s; exit {process.returncode}"
    )


if __name__ == "__main__":
    main()
