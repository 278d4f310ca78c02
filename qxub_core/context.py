"""Execution contexts: what the job script activates before the command runs.

Each context is a few lines of bash placed in the job script after the environment is restored:
environment modules (``module load``), a conda environment (through conda's shell hook, so the
command's output is not buffered as with ``conda run``) and a Singularity/Apptainer image (the
command is wrapped as ``<runtime> exec --bind ... IMAGE cmd...``). Modules may be combined with
either of the other two; they load first, so a module can provide conda or the container runtime.
When the scheduler bound GPUs to the job (``CUDA_VISIBLE_DEVICES``, ``ROCR_VISIBLE_DEVICES``), the
container gets them through ``--nv`` or ``--rocm``.

A context that cannot be activated calls ``qxub_context_failed <why>``, which the script defines:
the reason goes to the job's ``err`` and into the final status file (exit 125), and the command
does not run.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence

from qxub_core.spec import ContextSpec, SpecError

NONE = "none"
CONDA = "conda"
MODULES = "modules"
SINGULARITY = "singularity"
CONTEXT_KINDS = (NONE, CONDA, MODULES, SINGULARITY)

# Where a non-interactive shell finds the `module` function when the login shell did not define
# it: Environment Modules and Lmod both set MODULESHOME; LMOD_PKG is Lmod's own install prefix.
MODULE_INIT_CANDIDATES = (
    "${MODULESHOME:+$MODULESHOME/init/bash}",
    "${LMOD_PKG:+$LMOD_PKG/init/bash}",
    "/usr/share/lmod/lmod/init/bash",
    "/usr/share/modules/init/bash",
    "/etc/profile.d/modules.sh",
)
CONTAINER_RUNTIMES = ("apptainer", "singularity")


def context_kind(conda_env: str | None, modules: Sequence[str], image: str | None) -> str:
    """The kind that names a context made of these parts (the container or conda wins)."""
    if image:
        return SINGULARITY
    if conda_env:
        return CONDA
    return MODULES if modules else NONE


def build_context(
    conda_env: str | None = None,
    modules: Sequence[str] = (),
    image: str | None = None,
    binds: Sequence[str] = (),
) -> ContextSpec:
    """A validated context from the command line's ``--env``, ``--mod``, ``--sif``, ``--bind``."""
    if conda_env is not None and image is not None:
        raise SpecError("--env and --sif cannot be combined: activate conda inside the image")
    if binds and image is None:
        raise SpecError("--bind needs --sif IMAGE: it binds paths into a container")
    for option, value in (("--env", conda_env), ("--sif", image)):
        if value is not None and not value.strip():
            raise SpecError(f"{option}: the name is empty")
    _refuse_empty("--mod", modules)
    _refuse_empty("--bind", binds)

    return ContextSpec(
        kind=context_kind(conda_env, modules, image),
        conda_env=conda_env,
        modules=tuple(modules),
        image=image,
        binds=tuple(binds),
    )


def activation_lines(context: ContextSpec) -> list[str]:
    """The bash lines that activate ``context``; empty for no context."""
    lines: list[str] = []
    if context.modules:
        lines += _module_lines(context.modules)
    if context.conda_env:
        lines += _conda_lines(context.conda_env)
    if context.image:
        lines += _container_lines(context.image, context.binds)
    return lines


def command_prefix(context: ContextSpec) -> list[str]:
    """Shell words placed before the command's own words (the container wrapper, if any)."""
    if not context.image:
        return []
    binds = [word for spec in context.binds for word in ("--bind", shlex.quote(spec))]
    gpus = '"${qxub_container_gpus[@]}"'
    return ['"$qxub_container_runtime"', "exec", gpus, *binds, shlex.quote(context.image)]


class BuiltinContexts:
    """The built-in contexts as the ``qxub_context`` hook provides them, one object for all kinds.

    A built-in context is read from the spec's fields rather than its kind, so that modules
    combine with conda or a container.
    """

    def activation_lines(self, context: ContextSpec) -> list[str]:
        return activation_lines(context)

    def command_prefix(self, context: ContextSpec) -> list[str]:
        return command_prefix(context)


def _module_lines(modules: Sequence[str]) -> list[str]:
    candidates = " ".join(f'"{path}"' for path in MODULE_INIT_CANDIDATES)
    missing = "environment modules are not available: no module function and no init script"
    lines = [
        "if ! declare -F module >/dev/null; then",
        f"    for qxub_module_init in {candidates}; do",
        '        if [ -n "$qxub_module_init" ] && [ -r "$qxub_module_init" ]; then',
        '            . "$qxub_module_init"',
        "            break",
        "        fi",
        "    done",
        "fi",
        f"declare -F module >/dev/null || qxub_context_failed {shlex.quote(missing)}",
    ]
    for module in modules:
        reason = shlex.quote(f"module load {module} failed")
        lines.append(f"module load {shlex.quote(module)} || qxub_context_failed {reason}")
    return lines


def _conda_lines(conda_env: str) -> list[str]:
    missing = "conda not found: neither $CONDA_EXE nor conda on PATH"
    hook_failed = "conda shell.bash hook failed"
    activate_failed = f"conda activate {conda_env} failed"
    return [
        'qxub_conda="${CONDA_EXE:-conda}"',
        f'command -v "$qxub_conda" >/dev/null || qxub_context_failed {shlex.quote(missing)}',
        'qxub_conda_hook="$("$qxub_conda" shell.bash hook)" \\',
        f"    || qxub_context_failed {shlex.quote(hook_failed)}",
        f'eval "$qxub_conda_hook" || qxub_context_failed {shlex.quote(hook_failed)}',
        f"conda activate {shlex.quote(conda_env)} \\",
        f"    || qxub_context_failed {shlex.quote(activate_failed)}",
    ]


def _container_lines(image: str, binds: Sequence[str]) -> list[str]:
    runtimes = " || ".join(f"command -v {runtime}" for runtime in CONTAINER_RUNTIMES)
    missing = "neither apptainer nor singularity is on PATH"
    failed = f"container image {image} does not start"
    probe = " ".join([*command_prefix(ContextSpec(image=image, binds=tuple(binds))), "true"])
    return [
        f'qxub_container_runtime="$({runtimes})" \\',
        f"    || qxub_context_failed {shlex.quote(missing)}",
        "# The GPUs the scheduler bound to this job, made visible inside the container.",
        "qxub_container_gpus=()",
        'if [ -n "${CUDA_VISIBLE_DEVICES:-}" ]; then qxub_container_gpus+=(--nv); fi',
        'if [ -n "${ROCR_VISIBLE_DEVICES:-}" ]; then qxub_container_gpus+=(--rocm); fi',
        f"{probe} || qxub_context_failed {shlex.quote(failed)}",
    ]


def _refuse_empty(option: str, values: Sequence[str]) -> None:
    if any(not value.strip() for value in values):
        raise SpecError(f"{option}: the name is empty")
