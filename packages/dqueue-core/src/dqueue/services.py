"""Services: background work (a cron scheduler) that a runner's master hosts beside its workers.

Plugins register a factory in the entry point group ``dqueue.services``: the settings -> a
service, or ``None``. A runner calls ``start`` once its workers are up and ``stop`` on
shutdown; a service runs in its own thread, survives a store that goes away (log, back off,
carry on) and stops within a second or two of ``stop``: :class:`ThreadedService` is that thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .loading import load_plugin, plugins
from .settings import Settings
from .threads import BackgroundThread

__all__ = ["SERVICES_GROUP", "Service", "ServiceFactory", "ThreadedService", "registered_services"]

#: The entry point group of service factories.
SERVICES_GROUP = "dqueue.services"


@runtime_checkable
class Service(Protocol):
    """Something the runner's master keeps running."""

    name: str

    @property
    def queues(self) -> frozenset[str]:
        """The queues it sends jobs to (a runner gives each a worker); empty if none."""
        ...

    def start(self) -> None:
        """Start in a background (daemon) thread and return at once."""
        ...

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the service to stop and wait up to ``timeout_s`` for it."""
        ...


#: What a plugin registers: the settings -> its service, or ``None`` (nothing to run).
ServiceFactory = Callable[[Settings], "Service | None"]


def registered_services(settings: Settings) -> list[Service]:
    """The services of the installed plugins that have something to run, in name order.

    Raises:
        ConfigurationError: a plugin cannot be loaded, or its configuration is bad.
    """
    found: list[Service] = []
    for name in sorted(plugins(SERVICES_GROUP)):
        factory: ServiceFactory = load_plugin(SERVICES_GROUP, name)
        service = factory(settings)
        if service is not None:
            found.append(service)
    return found


class ThreadedService:
    """A :class:`Service` that runs :meth:`tick` in a daemon thread until :meth:`stop`.

    After each tick the thread waits :attr:`delay_s` (set by the tick; :meth:`stop` cuts the
    wait short). A tick that raises is logged and tried again 30 s later, never ending the
    thread: the service would stop silently.
    """

    def __init__(self, name: str, logger: logging.Logger) -> None:
        self.name = name
        self._logger = logger
        self.delay_s = 0.0
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> object:
        """Do what is due now and set :attr:`delay_s` (each service has its own)."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        """Whether the service's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start ticking in a daemon thread (nothing if it already runs)."""
        if not self.running:
            self._stopping.clear()
            name = "dqueue-" + self.name.replace(" ", "-")
            self._thread = BackgroundThread(self._run, name=name)
            self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop ticking and wait up to ``timeout_s`` for the current tick to end."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._logger.warning("%s: thread did not stop within %.1fs", self.name, timeout_s)

    def _run(self) -> None:
        try:
            while not self._stopping.is_set():
                try:
                    self.tick()
                except Exception:
                    self._logger.exception("%s: tick failed; trying again shortly", self.name)
                    self.delay_s = 30.0
                self._stopping.wait(self.delay_s)
        finally:
            self._thread_exiting()

    def _thread_exiting(self) -> None:
        """Release what the thread holds as it ends (nothing by default)."""
