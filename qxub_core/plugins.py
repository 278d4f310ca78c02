"""The plugin manager: which plugins are loaded, from where, and how qxub asks them.

Plugins are registered in three steps, and later ones are asked first by provider hooks:

1. qxub's built-in adapters and contexts (:mod:`qxub_core.builtin_plugin`);
2. every entry point of the ``qxub`` group in the installed distributions;
3. plugins an embedding program registers at run time with :func:`register` (or
   :meth:`Plugins.register` on its own :class:`Plugins`).

A plugin that fails to load or does not match the hook specifications is left out with one
warning naming it; qxub itself keeps working. A run-time registration that does not match is
refused with :class:`pluggy.PluginValidationError`, since the program registering it can fix it.
A provider hook that raises, or answers with something other than what its specification asks
for, stops the job before anything is submitted with a :class:`PluginError` naming the plugin,
the hook and where the plugin's function is defined.
"""

from __future__ import annotations

import inspect
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pluggy

from qxub_core import builtin_plugin, hooks
from qxub_core.observers import ObserverDispatch, where_defined
from qxub_core.spec import SpecError

if TYPE_CHECKING:
    from qxub_core.hooks import ExecutionContext
    from qxub_core.schedulers.base import Scheduler
    from qxub_core.spec import JobSpec
    from qxub_core.usage import Usage

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "qxub"
BUILTIN_NAME = "qxub-builtin"
SOURCE_BUILTIN = "built-in"
SOURCE_ENTRY_POINT = "entry point"
SOURCE_RUN_TIME = "run time"


class UnknownContextError(ValueError):
    """An execution context kind that no plugin answers to."""


class PluginError(RuntimeError):
    """A plugin's provider hook raised or gave an answer of the wrong kind; nothing submitted."""


@dataclass(frozen=True)
class PluginInfo:
    """One loaded plugin, as ``qxub plugins`` lists it."""

    name: str
    source: str  # built-in, entry point or run time
    origin: str  # distribution and entry point, or the file the plugin is defined in
    hooks: tuple[str, ...]


class Plugins:
    """The loaded plugins and typed calls to their hooks."""

    def __init__(self, *, entry_points: bool = True) -> None:
        self._manager = pluggy.PluginManager(hooks.PROJECT)
        self._manager.add_hookspecs(hooks)
        self._origins: dict[str, tuple[str, str]] = {}
        self.observers = ObserverDispatch(self._manager)

        self._add(builtin_plugin, BUILTIN_NAME, SOURCE_BUILTIN, _defined_in(builtin_plugin))
        if entry_points:
            self._load_entry_points()

    # Registration ------------------------------------------------------------------------

    def register(self, plugin: object, name: str | None = None) -> str:
        """Register ``plugin`` at run time; it is asked before every plugin loaded so far.

        Returns the name it is registered under: ``name``, or by default the module's or the
        class's name (with a number added when taken). Raises
        :class:`pluggy.PluginValidationError` when one of its hook implementations does not
        match the specification.
        """
        plugin_name = name or self._free_name(_readable_name(plugin))
        self._add(plugin, plugin_name, SOURCE_RUN_TIME, _defined_in(plugin))
        return plugin_name

    def unregister(self, name: str) -> None:
        """Remove the plugin registered under ``name``."""
        self._manager.unregister(name=name)
        self._origins.pop(name, None)

    def describe(self) -> list[PluginInfo]:
        """Every loaded plugin, in the order they were registered."""
        return [
            PluginInfo(name, source, origin, self._hooks_of(name))
            for name, (source, origin) in self._origins.items()
        ]

    # Provider hooks ----------------------------------------------------------------------

    def scheduler_class(self, name: str) -> type[Scheduler]:
        """The adapter class for ``name``; the last-registered plugin answering wins."""
        from qxub_core.schedulers import UnknownSchedulerError

        found: type[Scheduler] | None = self._first("qxub_scheduler", name=name)
        if found is None:
            valid = ", ".join(["auto", *self.scheduler_names()])
            raise UnknownSchedulerError(f"unknown scheduler {name!r}; choose one of {valid}")
        return found

    def scheduler_names(self) -> list[str]:
        """Every scheduler name a plugin answers to, built-ins first."""
        return _unique(self._combined("qxub_scheduler_names"))

    def context(self, name: str) -> ExecutionContext:
        """The execution context for kind ``name``; the last-registered plugin answering wins."""
        found: ExecutionContext | None = self._first("qxub_context", name=name)
        if found is None:
            valid = ", ".join(self.context_names())
            raise UnknownContextError(f"unknown execution context {name!r}; choose one of {valid}")
        return found

    def context_names(self) -> list[str]:
        """Every context kind a plugin answers to, built-ins first."""
        return _unique(self._combined("qxub_context_names"))

    def prologue_lines(self, spec: JobSpec, scheduler: str) -> list[str]:
        """Every plugin's prologue lines, in registration order."""
        return self._combined("qxub_prologue", spec=spec, scheduler=scheduler)

    def epilogue_lines(self, spec: JobSpec, scheduler: str) -> list[str]:
        """Every plugin's epilogue lines, in registration order."""
        return self._combined("qxub_epilogue", spec=spec, scheduler=scheduler)

    def submit_args(self, spec: JobSpec, scheduler: str) -> list[str]:
        """Every plugin's extra submit arguments, in registration order (not yet checked)."""
        return self._combined("qxub_submit_args", spec=spec, scheduler=scheduler)

    # Observer hooks ----------------------------------------------------------------------

    def job_submitted(self, spec: JobSpec, job_id: str, job_dir: Path, scheduler: str) -> None:
        self.observers.notify(
            "qxub_job_submitted", spec=spec, job_id=job_id, job_dir=job_dir, scheduler=scheduler
        )

    def job_started(self, job_id: str, job_dir: Path, host: str) -> None:
        self.observers.notify("qxub_job_started", job_id=job_id, job_dir=job_dir, host=host)

    def job_finished(self, job_id: str, job_dir: Path, exit_code: int, reason: str | None) -> None:
        self.observers.notify(
            "qxub_job_finished", job_id=job_id, job_dir=job_dir, exit_code=exit_code, reason=reason
        )

    def usage_collected(self, job_id: str, job_dir: Path, usage: Usage) -> None:
        self.observers.notify("qxub_usage_collected", job_id=job_id, job_dir=job_dir, usage=usage)

    def drain_observers(self, timeout_s: float) -> bool:
        """Give observers up to ``timeout_s`` to take queued events; whether they all did."""
        return self.observers.drain(timeout_s)

    # Internals ---------------------------------------------------------------------------

    def _add(self, plugin: object, name: str, source: str, origin: str) -> None:
        self._manager.register(plugin, name=name)
        try:
            self._manager.check_pending()
        except pluggy.PluginValidationError:
            self._manager.unregister(name=name)
            raise
        self._origins[name] = (source, origin)
        logger.debug("plugin %s registered (%s, %s)", name, source, origin)

    def _free_name(self, wanted: str) -> str:
        candidate, number = wanted, 1
        while self._manager.has_plugin(candidate):
            number += 1
            candidate = f"{wanted}-{number}"
        return candidate

    def _load_entry_points(self) -> None:
        for entry_point in metadata.entry_points(group=ENTRY_POINT_GROUP):
            if self._manager.has_plugin(entry_point.name):
                logger.warning("plugin %s: name already taken; entry point skipped", entry_point)
                continue
            try:
                plugin = entry_point.load()
                self._add(plugin, entry_point.name, SOURCE_ENTRY_POINT, _origin_of(entry_point))
            except Exception as error:
                logger.warning(
                    "plugin %s (%s) not loaded: %s: %s",
                    entry_point.name,
                    entry_point.value,
                    type(error).__name__,
                    error,
                )

    def _hooks_of(self, name: str) -> tuple[str, ...]:
        plugin = self._manager.get_plugin(name)
        callers = self._manager.get_hookcallers(plugin) or []
        return tuple(sorted(caller.name for caller in callers))

    def _first(self, hook_name: str, **arguments: Any) -> Any:
        """The first answer that is not ``None``, asking the latest-registered plugin first."""
        for impl in self._impls_newest_first(hook_name):
            answer = _ask(impl, hook_name, arguments)
            if answer is not None:
                return answer
        return None

    def _combined(self, hook_name: str, **arguments: Any) -> list[str]:
        """Every plugin's list of words or lines, concatenated in registration order."""
        words: list[str] = []
        for impl in reversed(self._impls_newest_first(hook_name)):
            answer = _ask(impl, hook_name, arguments)
            if answer is None:
                continue
            if isinstance(answer, str) or not all(isinstance(word, str) for word in answer):
                raise PluginError(
                    f"plugin {impl.plugin_name}: {hook_name} returned {answer!r}, expected a "
                    f"list of strings (defined at {where_defined(impl.function)})"
                )
            words.extend(answer)
        return words

    def _impls_newest_first(self, hook_name: str) -> list[pluggy.HookImpl]:
        caller: pluggy.HookCaller = getattr(self._manager.hook, hook_name)
        return [
            impl
            for impl in reversed(caller.get_hookimpls())
            if not (impl.wrapper or impl.hookwrapper)
        ]


_default: Plugins | None = None
_default_lock = threading.Lock()


def default_plugins() -> Plugins:
    """The process's plugins: built-ins and entry points, loaded at first use."""
    global _default
    with _default_lock:
        if _default is None:
            _default = Plugins()
        return _default


def register(plugin: object, name: str | None = None) -> str:
    """Register ``plugin`` with the process's plugins (see :meth:`Plugins.register`)."""
    return default_plugins().register(plugin, name)


def _ask(impl: pluggy.HookImpl, hook_name: str, arguments: dict[str, Any]) -> Any:
    """One plugin's answer; its failure becomes a :class:`PluginError` naming it."""
    try:
        return impl.function(*[arguments[name] for name in impl.argnames])
    except SpecError:
        raise
    except Exception as error:
        raise PluginError(
            f"plugin {impl.plugin_name}: {hook_name} raised {type(error).__name__}: {error} "
            f"(defined at {where_defined(impl.function)})"
        ) from error


def _origin_of(entry_point: metadata.EntryPoint) -> str:
    distribution = entry_point.dist
    where = f"{distribution.name} {distribution.version}, " if distribution else ""
    return f"{where}{entry_point.group}: {entry_point.name} = {entry_point.value}"


def _readable_name(plugin: object) -> str:
    if inspect.ismodule(plugin):
        return plugin.__name__
    if inspect.isclass(plugin):
        return plugin.__name__
    return type(plugin).__name__


def _defined_in(plugin: object) -> str:
    target = plugin if inspect.ismodule(plugin) or inspect.isclass(plugin) else type(plugin)
    try:
        return inspect.getsourcefile(target) or repr(plugin)
    except TypeError:
        return repr(plugin)


def _unique(names: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(names))
