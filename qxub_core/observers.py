"""Delivering lifecycle events to observer plugins without ever waiting for them.

Each plugin that observes gets a queue and a daemon thread of its own, started at its first
event. The monitor only puts events on queues, which never blocks. A plugin's events reach it in
the order they happened; a plugin that raises is logged (one warning naming its function and
where it is defined) and gets its next event as usual; a plugin that blocks holds up only its own
queue. Before a short-lived process exits it may :meth:`ObserverDispatch.drain` for a bounded
time so that events already queued are delivered.
"""

from __future__ import annotations

import inspect
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import pluggy

logger = logging.getLogger(__name__)

Delivery = tuple[pluggy.HookImpl, dict[str, Any]]


class _PluginQueue:
    """One observing plugin's events, delivered in order on a thread of its own."""

    def __init__(self, plugin_name: str) -> None:
        self.plugin_name = plugin_name
        self._events: queue.SimpleQueue[Delivery] = queue.SimpleQueue()
        self._pending = 0
        self._idle = threading.Condition()
        self._thread = threading.Thread(
            target=self._deliver_forever, name=f"qxub-observer-{plugin_name}", daemon=True
        )
        self._thread.start()

    def put(self, delivery: Delivery) -> None:
        with self._idle:
            self._pending += 1
        self._events.put(delivery)

    def wait_idle(self, deadline: float) -> bool:
        """Wait until every queued event was delivered or ``deadline`` (monotonic) passes."""
        with self._idle:
            return self._idle.wait_for(
                lambda: self._pending == 0, timeout=max(0.0, deadline - time.monotonic())
            )

    def _deliver_forever(self) -> None:
        while True:
            impl, arguments = self._events.get()
            _call_observer(impl, arguments)

            with self._idle:
                self._pending -= 1
                self._idle.notify_all()


class ObserverDispatch:
    """Hands each observer hook call to per-plugin queues."""

    def __init__(self, plugin_manager: pluggy.PluginManager) -> None:
        self._plugin_manager = plugin_manager
        self._queues: dict[str, _PluginQueue] = {}
        self._lock = threading.Lock()

    def notify(self, hook_name: str, **arguments: Any) -> None:
        """Queue ``hook_name`` with ``arguments`` for every plugin implementing it."""
        caller: pluggy.HookCaller = getattr(self._plugin_manager.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.hookwrapper or impl.wrapper:
                continue
            self._queue_for(impl.plugin_name).put((impl, arguments))

    def drain(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for queued events to be delivered; whether all were."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            queues = list(self._queues.values())
        return all([plugin_queue.wait_idle(deadline) for plugin_queue in queues])

    def _queue_for(self, plugin_name: str) -> _PluginQueue:
        with self._lock:
            if plugin_name not in self._queues:
                self._queues[plugin_name] = _PluginQueue(plugin_name)
            return self._queues[plugin_name]


def _call_observer(impl: pluggy.HookImpl, arguments: dict[str, Any]) -> None:
    function: Callable[..., object] = impl.function
    try:
        function(*[arguments[name] for name in impl.argnames])
    except Exception as error:
        logger.warning(
            "plugin %s: %s raised %s: %s (defined at %s); event skipped",
            impl.plugin_name,
            function.__name__,
            type(error).__name__,
            error,
            where_defined(function),
        )
        logger.debug("traceback of plugin %s", impl.plugin_name, exc_info=True)


def where_defined(function: Callable[..., object]) -> str:
    try:
        path = inspect.getsourcefile(function) or "?"
        line = inspect.getsourcelines(function)[1]
    except (OSError, TypeError):
        return "an unknown place"
    return f"{path}:{line}"
