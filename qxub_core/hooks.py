"""The hooks through which plugins extend and observe qxub: one module, one docstring per hook.

A plugin is any object (a module, a class instance) whose functions are marked with
:data:`hookimpl` and named after the hooks below. qxub finds plugins through the ``qxub``
entry-point group; a program that embeds qxub can also register plugins at run time (see
:mod:`qxub_core.plugins`). qxub's own scheduler adapters and execution contexts are provided
through these same hooks, registered first.

Two kinds of hook:

*Provider hooks* answer a question. Where one answer is expected (``firstresult``), the first
plugin to return something other than ``None`` wins, and plugins registered later are asked
first, so a site plugin can replace a built-in scheduler or context by using its name. Where many
answers are combined (script lines, submit arguments) every plugin contributes, in the order the
plugins were registered: built-ins first, then entry points, then run-time registrations.

*Observer hooks* are told what happened to a job. They run on a dispatch thread of their own,
one per plugin, never on the monitor loop: an observer that raises is logged and skipped, and an
observer that blocks delays only its own later events, never the job, the monitor or qxub's exit.
An observer may declare only the arguments it needs, as with any pluggy hook.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import pluggy

if TYPE_CHECKING:
    from qxub_core.schedulers.base import Scheduler
    from qxub_core.spec import ContextSpec, JobSpec
    from qxub_core.usage import Usage

PROJECT = "qxub"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


class ExecutionContext(Protocol):
    """What the job script needs from an execution context.

    ``activation_lines`` returns bash lines that make the context current in the job's shell
    (activate a conda environment, load modules, ...). The job script runs them after the
    prologue and before changing to the working directory; when any line fails the job stops
    before its command runs, its final status is ``125`` with ``context: <why>``, and the reason
    is written to the job's stderr. ``command_prefix`` is the argv put before the job's own
    command (a container runtime's ``exec IMAGE``), empty for contexts that only change the
    environment.
    """

    def activation_lines(self, context: ContextSpec) -> list[str]: ...

    def command_prefix(self, context: ContextSpec) -> list[str]: ...


# Provider hooks -------------------------------------------------------------------------------


@hookspec(firstresult=True)
def qxub_scheduler(name: str) -> type[Scheduler] | None:
    """Return the scheduler adapter class answering to ``name``, or ``None``.

    :param name: the name a user gave to ``--scheduler`` or the ``scheduler`` configuration key
        (never ``auto``: detection happens first).

    The class is constructed with the resolved configuration, as ``cls(options)``. Import heavy
    modules inside this function, not at the top of the plugin, so that qxub starts fast.
    """


@hookspec
def qxub_scheduler_names() -> Sequence[str]:
    """Return the scheduler names this plugin answers to in :func:`qxub_scheduler`.

    Used to list valid choices when a user names an unknown scheduler, and by ``qxub plugins``.
    """
    return ()


@hookspec(firstresult=True)
def qxub_context(name: str) -> ExecutionContext | None:
    """Return the execution context called ``name`` (``ContextSpec.kind``), or ``None``.

    :param name: the context kind of the job spec, such as ``conda`` or a site's own runtime.

    The returned object follows :class:`ExecutionContext`.
    """


@hookspec
def qxub_context_names() -> Sequence[str]:
    """Return the context kinds this plugin answers to in :func:`qxub_context`."""
    return ()


@hookspec
def qxub_prologue(spec: JobSpec, scheduler: str) -> Sequence[str] | None:
    """Return bash lines the job script runs before the execution context is activated.

    :param spec: the job about to be rendered.
    :param scheduler: the name of the scheduler it is submitted to.

    The lines run after the job-started status file is written, in a subshell whose output is
    appended to the job's stderr file and whose exit status is ignored: a prologue can never
    change the job's exit code, its environment or its working directory.
    """


@hookspec
def qxub_epilogue(spec: JobSpec, scheduler: str) -> Sequence[str] | None:
    """Return bash lines the job script runs after the command and before the final status file.

    :param spec: the job about to be rendered.
    :param scheduler: the name of the scheduler it is submitted to.

    Run like the prologue: in a subshell, output appended to the job's stderr file, exit status
    ignored, so the job's exit code is the command's whatever the epilogue does. The variable
    ``QXUB_EXIT_CODE`` holds the command's exit code while the epilogue runs.
    """


@hookspec
def qxub_submit_args(spec: JobSpec, scheduler: str) -> Sequence[str] | None:
    """Return extra arguments for the scheduler's submit command (``qsub``, ``sbatch``).

    :param spec: the job about to be submitted.
    :param scheduler: the scheduler's name; return ``None`` for schedulers the plugin does not
        know.

    They go through the same check as a user's raw ``--scheduler-args``: an argument that sets
    what a qxub option already sets is refused, naming both, and nothing is submitted.
    """


# Observer hooks -------------------------------------------------------------------------------


@hookspec
def qxub_job_submitted(spec: JobSpec, job_id: str, job_dir: Path, scheduler: str) -> None:
    """The scheduler accepted a job.

    :param spec: the job as submitted.
    :param job_id: the scheduler's id for it, whole (``12345.gadi-pbs``).
    :param job_dir: its private job directory (script, ``out``, ``err``, status files).
    :param scheduler: the scheduler's name.
    """


@hookspec
def qxub_job_started(job_id: str, job_dir: Path, host: str) -> None:
    """The job script started running and wrote its job-started status file.

    :param job_id: the scheduler's job id.
    :param job_dir: the job's directory.
    :param host: the host the job runs on, as the job script saw it.
    """


@hookspec
def qxub_job_finished(job_id: str, job_dir: Path, exit_code: int, reason: str | None) -> None:
    """The job ended and its exit code is established.

    :param job_id: the scheduler's job id.
    :param job_dir: the job's directory.
    :param exit_code: the code qxub returns for it, from qxub's exit-code table.
    :param reason: why, when qxub chose the code itself (walltime, never ran, lost, ...);
        ``None`` when it is the job's own exit code.
    """


@hookspec
def qxub_usage_collected(job_id: str, job_dir: Path, usage: Usage) -> None:
    """The job's usage record was collected and saved in its job directory.

    :param job_id: the scheduler's job id.
    :param job_dir: the job's directory, holding ``usage.json``.
    :param usage: the record.
    """


OBSERVER_HOOKS = (
    "qxub_job_submitted",
    "qxub_job_started",
    "qxub_job_finished",
    "qxub_usage_collected",
)
