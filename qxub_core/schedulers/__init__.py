"""Scheduler adapters by name, asked of the plugins (the built-in ones are a plugin too).

Each adapter module is imported only when asked for, to keep start-up fast.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from qxub_core.schedulers.base import Scheduler

if TYPE_CHECKING:
    from qxub_core.plugins import Plugins


BUILTIN_SCHEDULERS = {
    "local": "qxub_core.schedulers.local:LocalScheduler",
    "pbs": "qxub_core.schedulers.pbs:PbsScheduler",
    "slurm": "qxub_core.schedulers.slurm:SlurmScheduler",
}
DETECTION_ORDER = ("pbs", "slurm")


class UnknownSchedulerError(ValueError):
    """A scheduler name that no adapter answers to."""


def scheduler_class(name: str, plugins: Plugins | None = None) -> type[Scheduler]:
    """The adapter class answering to ``name``: the latest-registered plugin's, else a built-in."""
    from qxub_core.plugins import default_plugins

    return (plugins or default_plugins()).scheduler_class(name)


def resolve_scheduler_name(name: str, plugins: Plugins | None = None) -> str:
    """``auto`` becomes the first scheduler found on this machine, else ``local``.

    Schedulers that plugins add are tried first (the latest-registered first), then the
    built-ins in :data:`DETECTION_ORDER`.
    """
    if name != "auto":
        scheduler_class(name, plugins)
        return name
    for candidate in _detection_order(plugins):
        if _detected(candidate, plugins):
            return candidate
    return "local"


def make_scheduler(
    name: str, options: Mapping[str, Any] | None = None, plugins: Plugins | None = None
) -> Scheduler:
    """An adapter instance for ``name`` (``auto`` allowed), configured with ``options``."""
    return scheduler_class(resolve_scheduler_name(name, plugins), plugins)(options)


def _detection_order(plugins: Plugins | None) -> list[str]:
    from qxub_core.plugins import default_plugins

    names = (plugins or default_plugins()).scheduler_names()
    added = [name for name in names if name not in BUILTIN_SCHEDULERS]
    return [*reversed(added), *DETECTION_ORDER]


def _detected(name: str, plugins: Plugins | None) -> bool:
    if name in BUILTIN_SCHEDULERS and not _module_exists(name):
        return False
    return scheduler_class(name, plugins).detect()


def _module_exists(name: str) -> bool:
    module_name = BUILTIN_SCHEDULERS[name].partition(":")[0]
    return importlib.util.find_spec(module_name) is not None
