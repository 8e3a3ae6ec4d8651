"""Services: background work (a cron scheduler) that a runner's master hosts beside its workers.

Plugins register a factory in the entry point group ``dqueue.services``: the settings -> a
service, or ``None``. A runner calls ``start`` once its workers are up and ``stop`` on
shutdown; a service runs in its own thread, survives a store that goes away (log, back off,
carry on) and stops within a second or two of ``stop``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from .loading import load_plugin, plugins
from .settings import Settings

__all__ = ["SERVICES_GROUP", "Service", "ServiceFactory", "registered_services"]

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
