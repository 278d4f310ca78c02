"""Raw ``sbatch`` options from ``--scheduler-args``: what each sets, and their directive lines.

Each ``--scheduler-args`` value may hold several options (``"--qos=high --exclusive"``). They
are split as a shell would, grouped into one option and its value each, and checked against the
qxub options under the rule shared by every adapter (:mod:`qxub_core.schedulers.raw_args`).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Sequence

from qxub_core.schedulers.raw_args import RawSetting, refuse_conflicts, settings_in_spec
from qxub_core.spec import JobSpec, SpecError

# sbatch options (long name, and short letter where there is one) that set what a qxub option or
# qxub itself sets, in the shared module's words.
SBATCH_SETTINGS: dict[str, str] = {
    "--cpus-per-task": "cpus",
    "-c": "cpus",
    "--ntasks": "cpus",
    "-n": "cpus",
    "--mem": "mem",
    "--mem-per-cpu": "mem",
    "--mem-per-gpu": "mem",
    "--time": "walltime",
    "-t": "walltime",
    "--gpus": "gpus",
    "-G": "gpus",
    "--gpus-per-node": "gpus",
    "--gpus-per-task": "gpus",
    "--tmp": "disk",
    "--partition": "queue",
    "-p": "queue",
    "--account": "project",
    "-A": "project",
    "--job-name": "name",
    "-J": "name",
    "--output": "output",
    "-o": "output",
    "--error": "error",
    "-e": "error",
    "--export": "environment",
    "--export-file": "environment",
    "--get-user-env": "environment",
    "--array": "array job",
    "-a": "array job",
}


def split_options(scheduler_args: Iterable[str]) -> list[list[str]]:
    """The raw words grouped per option: ``[["--qos", "high"], ["--exclusive"]]``."""
    groups: list[list[str]] = []
    for value in scheduler_args:
        try:
            words = shlex.split(value)
        except ValueError as exc:
            raise SpecError(f"--scheduler-args: cannot split {value!r}: {exc}") from None
        for word in words:
            if word.startswith("-") or not groups:
                groups.append([word])
            else:
                groups[-1].append(word)
    return groups


def option_name(word: str) -> str:
    """``--mem=4G`` -> ``--mem``; ``-pdebug`` -> ``-p``; a value stays as it is."""
    if word.startswith("--"):
        return word.partition("=")[0]
    if word.startswith("-") and len(word) > 1:
        return word[:2]
    return word


def gres_sets_gpus(words: Sequence[str]) -> bool:
    """``--gres=gpu:2`` (or ``--gres gpu:a100:1``) asks for GPUs as ``--gpus`` does."""
    value = words[0].partition("=")[2] or " ".join(words[1:])
    return any(item.strip().startswith("gpu") for item in value.split(","))


def raw_settings(groups: Iterable[Sequence[str]]) -> list[RawSetting]:
    """What each raw option sets, for the shared collision rule."""
    found = []
    for words in groups:
        name = option_name(words[0])
        setting = SBATCH_SETTINGS.get(name)
        if name == "--gres" and gres_sets_gpus(words):
            setting = "gpus"
        if setting is not None:
            source = f"--scheduler-args {shlex.join(words)!r}"
            found.append(RawSetting(source=source, setting=setting))
    return found


def check_scheduler_args(spec: JobSpec) -> list[list[str]]:
    """The spec's raw options, grouped; refused (exit 2) when one collides with a qxub option."""
    groups = split_options(spec.scheduler_args)
    refuse_conflicts(settings_in_spec(spec), raw_settings(groups))
    return groups


def directive_lines(prefix: str, groups: Iterable[Sequence[str]]) -> list[str]:
    """One directive line per raw option, quoted as sbatch reads its directive lines."""
    return [f"{prefix} {shlex.join(words)}" for words in groups]
