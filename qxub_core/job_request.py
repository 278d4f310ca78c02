"""A job request as a user types it (option values, as text) turned into a checked job spec.

The command line fills a request from its options; the resolved configuration supplies the
defaults for name, project, queue, resources and storage (and has already checked their forms).
Every refusal is a :class:`~qxub_core.spec.SpecError` naming the option and the accepted forms.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from qxub_core.context import build_context
from qxub_core.environment import capture_environment
from qxub_core.spec import JobSpec, Resources, SpecError, parse_memory_bytes, parse_walltime_s

if TYPE_CHECKING:
    from qxub_core.config import Configuration

SHELL_JOB_NAME = "shell"


def build_spec(
    command: Sequence[str], request: Mapping[str, Any], configuration: Configuration
) -> JobSpec:
    """The job spec for ``command`` and the request's option values."""
    shell = request.get("shell_line") is not None
    clean_env = bool(request.get("clean_env"))
    return JobSpec(
        command=tuple(command),
        shell=shell,
        name=configuration["name"] or default_job_name(command, shell),
        project=configuration["project"],
        queue=configuration["queue"],
        resources=resources_from(configuration),
        context=build_context(
            request.get("conda_env"),
            request.get("modules", ()),
            request.get("image"),
            request.get("binds", ()),
        ),
        workdir=workdir_from(request.get("execdir")),
        variables=parse_variables(request.get("variables", ())),
        clean_env=clean_env,
        environment=None if clean_env else capture_environment(),
        out_copy=copy_path("--out", request.get("out_copy")),
        err_copy=err_copy_path(request.get("out_copy"), request.get("err_copy")),
        storage=configuration["storage"],
        raw_resources=tuple(request.get("raw_resources", ())),
        scheduler_args=split_scheduler_args(request.get("scheduler_args", ())),
    )


def default_job_name(command: Sequence[str], shell: bool) -> str:
    """The command's own name (``python3`` for ``python3 x.py``), or ``shell`` for a line."""
    if shell or not command:
        return SHELL_JOB_NAME
    return Path(command[0]).name or SHELL_JOB_NAME


def resources_from(configuration: Configuration) -> Resources:
    """Resources from the resolved values (options over configuration), in units."""
    settings = configuration.settings

    def size(key: str) -> int | None:
        text = settings[key].value
        return None if text is None else parse_memory_bytes(text, settings[key].origin or key)

    runtime = settings["runtime"]
    return Resources(
        cpus=settings["cpus"].value,
        mem_bytes=size("mem"),
        walltime_s=None if runtime.value is None else parse_walltime_s(runtime.value),
        gpus=settings["gpus"].value,
        disk_bytes=size("disk"),
    )


def workdir_from(execdir: str | None) -> Path:
    """The job's working directory: ``--execdir`` (an existing directory) or the current one."""
    if execdir is None:
        return Path.cwd()
    workdir = Path(execdir).expanduser().absolute()
    if not workdir.is_dir():
        raise SpecError(f"--execdir: {execdir!r} is not an existing directory")
    return workdir


def parse_variables(assignments: Sequence[str]) -> dict[str, str]:
    """``--var KEY=VALUE`` values, in order; the value may be empty or contain ``=``.

    The names are checked (shell names, none read-only) as the spec is built.
    """
    variables: dict[str, str] = {}
    for assignment in assignments:
        name, equals, value = assignment.partition("=")
        if not equals:
            raise SpecError(
                f"--var: cannot read {assignment!r}; use KEY=VALUE, KEY a shell variable name"
            )
        variables[name] = value
    return variables


def copy_path(option: str, given: str | None) -> Path | None:
    """An absolute path for ``--out``/``--err``, in an existing directory."""
    if given is None:
        return None
    if not given.strip():
        raise SpecError(f"{option}: the path is empty; give a file path")
    path = Path(given).expanduser().absolute()
    if path.is_dir():
        raise SpecError(f"{option}: {given!r} is a directory; give a file path")
    if not path.parent.is_dir():
        raise SpecError(f"{option}: the directory of {given!r} does not exist")
    return path


def err_copy_path(out_given: str | None, err_given: str | None) -> Path | None:
    """``--err``'s path, which may not be ``--out``'s: the two copies would overwrite each
    other's bytes (the job's ``out`` and ``err`` are copied separately)."""
    err_copy = copy_path("--err", err_given)
    out_copy = copy_path("--out", out_given)
    if err_copy is None or out_copy is None:
        return err_copy

    existing = err_copy.exists() and out_copy.exists()
    if err_copy == out_copy or existing and err_copy.samefile(out_copy):
        raise SpecError(f"--out and --err name the same file {err_given!r}; give two paths")
    return err_copy


def split_scheduler_args(texts: Sequence[str]) -> tuple[str, ...]:
    """``--scheduler-args`` values split as a shell would split them (quotes honoured)."""
    words: list[str] = []
    for text in texts:
        try:
            words.extend(shlex.split(text))
        except ValueError as exc:
            raise SpecError(f"--scheduler-args: cannot split {text!r}: {exc}") from None
    return tuple(words)
