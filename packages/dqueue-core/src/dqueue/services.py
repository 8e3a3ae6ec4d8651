"""Services: background work that a runner's master process hosts beside its workers.

The cron scheduler (dqueue-cron) and lease recovery are services. A runner calls ``start``
once its workers are up and ``stop`` on shutdown; a service runs in its own thread, must
survive a store that goes away (log, back off, carry on) and must stop within a second or two
of ``stop``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

__all__ = ["Service"]


@runtime_checkable
class Service(Protocol):
    """Something the runner's master keeps running."""

    name: str

    def start(self) -> None:
        """Start in a background (daemon) thread and return at once."""
        ...

    def stop(self, timeout_s: float = 5.0) -> None:
        """Ask the service to stop and wait up to ``timeout_s`` for it."""
        ...
