"""qxub's own scheduler adapters and execution contexts, provided through the hooks as any plugin's.

Registered before every other plugin, so that a site plugin answering to the same name is asked
first and replaces the built-in. Adapter modules are imported only when asked for by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from qxub_core.hooks import hookimpl

if TYPE_CHECKING:
    from qxub_core.hooks import ExecutionContext
    from qxub_core.schedulers.base import Scheduler


@hookimpl
def qxub_scheduler(name: str) -> type[Scheduler] | None:
    from qxub_core.schedulers import BUILTIN_SCHEDULERS

    if name not in BUILTIN_SCHEDULERS:
        return None
    module_name, _, class_name = BUILTIN_SCHEDULERS[name].partition(":")
    scheduler: type[Scheduler] = getattr(importlib.import_module(module_name), class_name)
    return scheduler


@hookimpl
def qxub_scheduler_names() -> Sequence[str]:
    from qxub_core.schedulers import BUILTIN_SCHEDULERS

    return tuple(BUILTIN_SCHEDULERS)


@hookimpl
def qxub_context(name: str) -> ExecutionContext | None:
    from qxub_core.context import CONTEXT_KINDS, BuiltinContexts

    return BuiltinContexts() if name in CONTEXT_KINDS else None


@hookimpl
def qxub_context_names() -> Sequence[str]:
    from qxub_core.context import CONTEXT_KINDS

    return CONTEXT_KINDS
