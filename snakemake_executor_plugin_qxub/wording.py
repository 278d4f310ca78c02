"""qxub's refusals in a workflow's words: ``--qxub-*`` options and rules' ``qxub_*`` resources.

The engine names the ``qxub`` command's options in what it refuses (``--storage is a PBS
option``, ``--scheduler-args '-N x' sets the name, which --name also sets``). In a workflow the
same values come from the executor's ``--qxub-*`` options, from a rule's ``qxub_*`` resources
and from Snakemake's own resources, and the job name is the executor's. Each option name
outside a quoted value is replaced by the name of what gave that value.
"""

from __future__ import annotations

import re
from collections.abc import Collection

# The qxub command's options, as the run's --qxub-* options (or qxub settings) give them.
RUN_WORDS = {
    "--queue": "--qxub-queue",
    "--project": "--qxub-project",
    "--storage": "qxub's storage setting",
    "--scheduler-args": "--qxub-scheduler-args",
    "--name": "the executor (it names every job)",
}
# The same options, as a rule's resources give them (used when the rule gave that value).
RESOURCE_WORDS = {
    "--queue": "qxub_queue",
    "--project": "qxub_project",
    "--storage": "qxub_storage",
    "--scheduler-args": "qxub_scheduler_args",
    "--resources": "qxub_resources",
    "-l/--resources": "qxub_resources",
}
# Quantities always come from Snakemake's resources (and a rule's threads).
QUANTITY_WORDS = {
    "--cpus": "threads (or cpus_per_task)",
    "--mem": "mem_mb",
    "--runtime": "runtime",
    "--gpus": "gpus",
    "--disk": "disk_mb",
    "--cpus/--mem/--gpus": "threads/mem_mb/gpus",
}

_OPTION = re.compile(r"(?<![\w=/-])(?:-l/)?--[a-z][a-z-]*(?:/--[a-z][a-z-]*)*(?![\w=/-])")
_QUOTED = re.compile(r"('[^']*'|\"[^\"]*\")")


def run_wording(text: str) -> str:
    """A refusal of the run's own values, naming the ``--qxub-*`` options."""
    return _reword(text, RUN_WORDS)


def job_wording(text: str, rule_resources: Collection[str], run_scheduler_args: bool) -> str:
    """A refusal of one job's values; ``rule_resources`` are the ``qxub_*`` resources it set.

    Raw submit arguments are named as the rule's resource unless only the run gave some.
    """
    words = {**RUN_WORDS, **QUANTITY_WORDS}
    words.update(
        (option, resource)
        for option, resource in RESOURCE_WORDS.items()
        if resource in rule_resources
    )
    if not run_scheduler_args:
        words["--scheduler-args"] = RESOURCE_WORDS["--scheduler-args"]
    return _reword(text, words)


def _reword(text: str, words: dict[str, str]) -> str:
    parts = _QUOTED.split(text)
    return "".join(
        part if index % 2 else _OPTION.sub(lambda match: words.get(match[0], match[0]), part)
        for index, part in enumerate(parts)
    )
