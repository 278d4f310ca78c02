"""Finishing a job's usage record in a detached process once the ``qxub`` command has returned.

The ``qxub`` command returns the prompt as soon as the job's exit code is known, while the usage
record may still be on its way (Slurm's ``sacct`` completes its record seconds after the job's
end). For an adapter whose :attr:`~qxub_core.schedulers.base.Scheduler.usage_collected_detached`
is set, qxub then starts ``python -m qxub_core.usage_collection`` in a session of its own, with
stdin and stdout on ``/dev/null`` and stderr appended to the job directory's ``scheduler.log``.
That process builds the adapter afresh from the same configuration, asks it for the record,
writes ``usage.json`` (nothing when there is no record) and ends. It gives up after
:data:`GIVE_UP_S` whatever it is waiting on.

Its one argument is a JSON object: the adapter's class (``module:Class``), its options, the
job's id, directory, command and working directory. Importing this module pulls in neither
click nor rich.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from qxub_core.schedulers.base import Scheduler
    from qxub_core.spec import JobSpec
    from qxub_core.usage import Usage

logger = logging.getLogger(__name__)

GIVE_UP_S = 180  # beyond sacct's own wait (30 s) and a few slow, retried scheduler commands
SCHEDULER_LOG = "scheduler.log"
LAUNCH_TIMEOUT_S = 30.0


class CollectionAbandoned(BaseException):
    """The collector ran out of time: raised from its alarm through whatever it was doing, so no
    handler of an adapter's failures may take it for one."""


@dataclass(frozen=True)
class UsageCollection:
    """What the detached process needs to ask the adapter for one job's usage record."""

    scheduler_class: str  # ``module:Class``
    scheduler_options: Mapping[str, Any]
    job_id: str
    job_dir: Path
    command: tuple[str, ...]
    workdir: Path
    give_up_s: int = GIVE_UP_S

    @classmethod
    def of(cls, scheduler: Scheduler, job_id: str, job_dir: Path, spec: JobSpec) -> UsageCollection:
        adapter = type(scheduler)
        return cls(
            scheduler_class=f"{adapter.__module__}:{adapter.__qualname__}",
            scheduler_options=scheduler.options,
            job_id=job_id,
            job_dir=job_dir,
            command=spec.command,
            workdir=spec.workdir,
        )

    def to_argument(self) -> str:
        return json.dumps(
            {
                "scheduler_class": self.scheduler_class,
                "scheduler_options": dict(self.scheduler_options),
                "job_id": self.job_id,
                "job_dir": str(self.job_dir),
                "command": list(self.command),
                "workdir": str(self.workdir),
                "give_up_s": self.give_up_s,
            },
            default=str,
        )

    @classmethod
    def from_argument(cls, text: str) -> UsageCollection:
        record = json.loads(text)
        return cls(
            scheduler_class=str(record["scheduler_class"]),
            scheduler_options=dict(record["scheduler_options"]),
            job_id=str(record["job_id"]),
            job_dir=Path(record["job_dir"]),
            command=tuple(str(word) for word in record["command"]),
            workdir=Path(record["workdir"]),
            give_up_s=int(record["give_up_s"]),
        )


def start_detached_collection(collection: UsageCollection) -> None:
    """Start the detached process for one job; the caller may exit at once afterwards.

    A shell that exits at once starts it in the background, so the collector is no child of the
    caller, which has nothing to reap.
    """
    collector = [sys.executable, "-m", __name__, collection.to_argument()]
    with (
        open(os.devnull, "rb") as nothing_in,
        open(os.devnull, "wb") as nothing_out,
        open(collection.job_dir / SCHEDULER_LOG, "ab") as log,
    ):
        try:
            subprocess.run(
                ["/bin/sh", "-c", '"$@" &', "qxub-usage-collection", *collector],
                stdin=nothing_in,
                stdout=nothing_out,
                stderr=log,
                cwd="/",
                start_new_session=True,
                check=False,
                timeout=LAUNCH_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired as exc:
            raise OSError(f"the usage collector did not start within {exc.timeout}s") from exc
    logger.debug("Job %s: usage collection handed to a detached process", collection.job_id)


def collect(collection: UsageCollection) -> bool:
    """Ask the adapter for the record and write ``usage.json``; whether there was a record."""
    previous = signal.signal(signal.SIGALRM, _abandon)
    signal.alarm(collection.give_up_s)
    try:
        return _collect(collection)
    except CollectionAbandoned:
        logger.warning(
            "Job %s: usage not collected within %ds; giving up",
            collection.job_id,
            collection.give_up_s,
        )
        return False
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def _collect(collection: UsageCollection) -> bool:
    scheduler = _scheduler(collection)
    spec = _spec(collection)
    return collect_usage(scheduler, collection.job_id, collection.job_dir, spec) is not None


def collect_usage(scheduler: Scheduler, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
    """Ask the adapter for a job's usage record and save it as ``usage.json``.

    ``None`` when there is no record. Accounting never breaks its caller: a failing adapter or
    a job directory that cannot take the file is logged, not raised.
    """
    try:
        usage = scheduler.usage(job_id, job_dir, spec)
    except Exception as exc:  # any adapter's failure costs the record, nothing more
        logger.warning("Job %s: usage not collected: %s", job_id, exc)
        return None
    if usage is None:
        logger.info("Job %s: the scheduler keeps no usage record", job_id)
        return None

    try:
        usage.save(job_dir)
    except OSError as exc:
        logger.warning("Job %s: usage.json not written: %s", job_id, exc)
    return usage


def _scheduler(collection: UsageCollection) -> Scheduler:
    module_name, _, class_name = collection.scheduler_class.partition(":")
    adapter = getattr(importlib.import_module(module_name), class_name)
    scheduler: Scheduler = adapter(collection.scheduler_options)
    return scheduler


def _spec(collection: UsageCollection) -> JobSpec:
    from qxub_core.spec import JobSpec

    return JobSpec(command=collection.command, workdir=collection.workdir)


def _abandon(signum: int, frame: FrameType | None) -> None:
    raise CollectionAbandoned


def main(argv: list[str]) -> int:
    from qxub_core.logs import configure_logging

    configure_logging()
    collection = UsageCollection.from_argument(argv[0])
    return 0 if collect(collection) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
