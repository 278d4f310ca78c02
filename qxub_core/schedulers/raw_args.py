"""The one rule for raw scheduler values, shared by every adapter.

Users may pass values straight to the scheduler (PBS ``-l/--resources``, ``--scheduler-args``).
A raw value that sets something a qxub option also sets is refused before anything is submitted,
naming both, because the scheduler would silently keep one of the two. Each adapter says what
its raw values set, in the words of this module (:data:`SETTINGS`); this module decides.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from qxub_core.spec import JobSpec, SpecError

# What a job setting is called, and the qxub option that sets it.
SETTINGS: dict[str, str] = {
    "cpus": "--cpus",
    "mem": "--mem",
    "walltime": "--runtime",
    "gpus": "--gpus",
    "disk": "--disk",
    "queue": "--queue",
    "project": "--project",
    "name": "--name",
    "storage": "--storage",
}

# Settings qxub always makes itself: a raw value for them would break following the job.
QXUB_OWNED: dict[str, str] = {
    "output": "qxub (the job's scheduler log goes to its job directory)",
    "error": "qxub (the job's scheduler log goes to its job directory)",
    "join": "qxub (the job's scheduler log joins stdout and stderr)",
    "umask": "qxub (job files are private to the user)",
    "environment": "qxub (the job script restores the submitting environment)",
}

# Settings qxub cannot follow at all, with the reason given to the user.
UNSUPPORTED: dict[str, str] = {
    "array job": "qxub follows one scheduler job per submission; submit one job per task",
}


class RawArgumentConflict(SpecError):
    """A raw scheduler value sets what a qxub option also sets."""


@dataclass(frozen=True)
class RawSetting:
    """One thing a raw value sets: ``source`` as the user typed it, ``setting`` in our words."""

    source: str
    setting: str


def settings_in_spec(spec: JobSpec) -> dict[str, str]:
    """The settings the spec's qxub options set, each with the option that set it."""
    resources = spec.resources
    present = {
        "cpus": resources.cpus is not None,
        "mem": resources.mem_bytes is not None,
        "walltime": resources.walltime_s is not None,
        "gpus": resources.gpus is not None,
        "disk": resources.disk_bytes is not None,
        "queue": spec.queue is not None,
        "project": spec.project is not None,
        "storage": spec.storage is not None,
        "name": True,  # every job gets a name, given or not
    }
    return {setting: SETTINGS[setting] for setting, given in present.items() if given}


def refuse_conflicts(qxub_settings: Mapping[str, str], raw: Iterable[RawSetting]) -> None:
    """Raise :class:`RawArgumentConflict` for the first raw value that collides."""
    seen: dict[str, str] = {}
    for item in raw:
        if item.setting in UNSUPPORTED:
            raise SpecError(
                f"{item.source} asks for an {item.setting}: {UNSUPPORTED[item.setting]}"
            )
        owner = QXUB_OWNED.get(item.setting) or qxub_settings.get(item.setting)
        if owner is not None:
            raise RawArgumentConflict(
                f"{item.source} sets the {item.setting}, which {owner} also sets; give it once"
            )
        if item.setting in seen and seen[item.setting] != item.source:
            raise RawArgumentConflict(
                f"{item.source} and {seen[item.setting]} both set the {item.setting}; give it once"
            )
        seen[item.setting] = item.source
