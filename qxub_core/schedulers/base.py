"""The contract every scheduler adapter fulfils.

An adapter is a handful of command/parse pairs and nothing else: it knows how to turn a job spec
into directives, how to submit a rendered script and read the job id back, how to ask about many
jobs in one call, how to cancel, and how to read accounting once a job has ended. It knows
nothing of monitoring: the monitor decides when to ask, the adapter only answers.
"""

from __future__ import annotations

import enum
import shlex
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from qxub_core.spec import JobSpec
from qxub_core.usage import Usage


class JobPhase(enum.Enum):
    """Where a job stands, as far as the scheduler can tell."""

    QUEUED = "queued"  # waiting, held, in transit or moved: not yet running
    RUNNING = "running"  # running, or exiting with the job's processes still alive
    ENDED = "ended"  # finished, killed or deleted: the scheduler has an answer
    UNKNOWN = "unknown"  # the scheduler no longer knows the job (purged, lost)


@dataclass(frozen=True)
class JobState:
    """One job's state from a batched status query.

    For an ended job ``exit_code`` is already mapped into qxub's exit-code table (for example
    PBS's 271 becomes 143, its -29 becomes 124) and ``reason`` explains any code qxub chose
    itself. ``raw_state`` is the scheduler's own word, for logs.
    """

    job_id: str
    phase: JobPhase
    raw_state: str = ""
    exit_code: int | None = None
    reason: str | None = None


class SchedulerError(RuntimeError):
    """A scheduler command failed.

    Carries the command, its exit code and its output, and whether trying again may help
    (connection refused, server busy, timeout) as opposed to a refusal (unknown queue, bad
    resource) that will fail the same way every time. ``ran`` is false when the command could
    not be run at all (not installed, not executable), so it did nothing.
    """

    def __init__(
        self,
        message: str,
        *,
        command: Sequence[str] = (),
        returncode: int | None = None,
        output: str = "",
        transient: bool = False,
        ran: bool = True,
    ) -> None:
        super().__init__(message)
        self.command = tuple(command)
        self.returncode = returncode
        self.output = output
        self.transient = transient
        self.ran = ran

    @property
    def detail(self) -> str:
        """The command, how it ended and all it printed, for the log; the message is one line."""
        command = shlex.join(self.command) if self.command else "the scheduler command"
        status = "" if self.returncode is None else f" (exit {self.returncode})"
        output = f"\n{self.output}" if self.output and self.output != str(self) else ""
        return f"{command}{status}: {self}{output}"

    @property
    def acted_on_nothing(self) -> bool:
        """Whether the command certainly changed nothing: it answered with a failure, or never
        ran. A command that timed out, or succeeded without the answer expected, may have."""
        return self.returncode not in (None, 0) or not self.ran


class Scheduler(ABC):
    """A batch scheduler as qxub uses it. Subclasses are named ``<Backend>Scheduler``.

    ``job_id_variable`` is the environment variable holding the job id inside a running job;
    the job script names its status files with it. ``directive_prefix`` starts each directive
    line of the job script (``#PBS``, ``#SBATCH``; empty for a scheduler with none).
    """

    name: ClassVar[str]
    job_id_variable: ClassVar[str]
    directive_prefix: ClassVar[str] = ""
    # How often the monitor may ask about a job without a final status file, for an adapter
    # whose query only reads local files and so may run far more often than the configured
    # fallback interval; ``None``: the fallback interval alone.
    status_query_interval_s: ClassVar[float | None] = None
    # Whether the ``qxub`` command, returning the prompt while :meth:`usage` is still running,
    # hands the collection to a detached process (:mod:`qxub_core.usage_collection`) so that
    # ``usage.json`` is still written. Left false by an adapter whose record is written by a
    # process of its own that outlives qxub (the local supervisor, PBS's accounting watcher)
    # or that keeps no record. The detached process builds the adapter afresh from the same
    # options and knows the job by its id and directory: the spec it passes to :meth:`usage`
    # holds only the job's command and working directory.
    usage_collected_detached: ClassVar[bool] = False

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        """``options`` are the resolved configuration values; each adapter reads its own keys."""
        self.options: dict[str, Any] = dict(options or {})

    @classmethod
    def detect(cls) -> bool:
        """Whether this scheduler is installed and answering on this machine."""
        return False

    @abstractmethod
    def directives(self, spec: JobSpec, job_dir: Path) -> list[str]:
        """The directive lines (prefix included) the job script starts with, in stable order."""

    @abstractmethod
    def submit_command(self, script: Path, job_dir: Path, spec: JobSpec) -> list[str]:
        """The command that submits ``script``; shown by ``--dry``, run by :meth:`submit`."""

    @abstractmethod
    def submit(self, script: Path, job_dir: Path, spec: JobSpec) -> str:
        """Submit the rendered script and return the scheduler's job id, whole.

        Raises :class:`SchedulerError` when the scheduler refuses; nothing is left queued then.
        """

    @abstractmethod
    def cancel(self, job_ids: Sequence[str]) -> None:
        """Cancel jobs in one batched call. A job that already ended is not an error."""

    @abstractmethod
    def query(self, job_ids: Sequence[str]) -> dict[str, JobState]:
        """The state of many jobs in one batched call.

        Every id asked about is in the answer: a job the scheduler does not know is
        :attr:`JobPhase.UNKNOWN`. One unreadable job never hides the others.
        """

    @abstractmethod
    def usage(self, job_id: str, job_dir: Path, spec: JobSpec) -> Usage | None:
        """The accounting record of an ended job, or ``None`` when the scheduler keeps none.

        May be slow (accounting records can arrive late); callers run it off the exit path.
        """
