"""Scheduler adapters by name. Each is imported only when asked for, to keep start-up fast."""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Mapping
from typing import Any

from qxub_core.schedulers.base import Scheduler

BUILTIN_SCHEDULERS = {
    "local": "qxub_core.schedulers.local:LocalScheduler",
    "pbs": "qxub_core.schedulers.pbs:PbsScheduler",
    "slurm": "qxub_core.schedulers.slurm:SlurmScheduler",
}
DETECTION_ORDER = ("pbs", "slurm")


class UnknownSchedulerError(ValueError):
    """A scheduler name that no adapter answers to."""


def scheduler_class(name: str) -> type[Scheduler]:
    """The adapter class registered under ``name``."""
    try:
        module_name, _, class_name = BUILTIN_SCHEDULERS[name].partition(":")
    except KeyError:
        valid = ", ".join(["auto", *BUILTIN_SCHEDULERS])
        raise UnknownSchedulerError(f"unknown scheduler {name!r}; choose one of {valid}") from None
    scheduler: type[Scheduler] = getattr(importlib.import_module(module_name), class_name)
    return scheduler


def resolve_scheduler_name(name: str) -> str:
    """``auto`` becomes the first scheduler found on this machine, else ``local``."""
    if name != "auto":
        scheduler_class(name)
        return name
    for candidate in DETECTION_ORDER:
        if candidate in BUILTIN_SCHEDULERS and _module_exists(candidate) and scheduler_class(
            candidate
        ).detect():
            return candidate
    return "local"


def make_scheduler(name: str, options: Mapping[str, Any] | None = None) -> Scheduler:
    """An adapter instance for ``name`` (``auto`` allowed), configured with ``options``."""
    return scheduler_class(resolve_scheduler_name(name))(options)


def _module_exists(name: str) -> bool:
    module_name = BUILTIN_SCHEDULERS[name].partition(":")[0]
    return importlib.util.find_spec(module_name) is not None
