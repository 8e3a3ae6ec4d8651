"""Which queues the command line knows, and which backend serves each."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ..backends import Backend, get_backend
from ..errors import BackendUnavailable, DQueueError
from ..registry import REGISTRY
from ..settings import Settings

__all__ = ["backend_names", "backends_in_use", "check_queue", "configured_queues", "known_queues"]

_logger = logging.getLogger("dqueue.cli")


def backends_in_use(settings: Settings) -> list[Backend]:
    """One instance of every configured backend: ``DQUEUE_BACKEND`` and the overrides'."""
    seen: dict[str, Backend] = {}
    # A queue name no override can hold ("" is never a queue) selects DQUEUE_BACKEND itself.
    for queue in ("", *settings.BACKEND_OVERRIDES):
        backend = get_backend(queue, settings=settings)
        seen.setdefault(backend.name, backend)
    return list(seen.values())


def configured_queues(settings: Settings) -> set[str]:
    """``default``, ``DQUEUE_WORKERS``' queues, the overrides' and registered tasks' queues."""
    return {"default", *settings.WORKERS, *settings.BACKEND_OVERRIDES, *REGISTRY.queues()}


def known_queues(settings: Settings) -> list[str]:
    """The configured queues and every queue the stores hold."""
    names = configured_queues(settings)
    for backend in backends_in_use(settings):
        names.update(backend.queues())
    return sorted(names)


def check_queue(settings: Settings, queue: str, *, store_may_be_down: bool = False) -> None:
    """Refuse a queue name nothing knows (a typo would otherwise act on an empty queue).

    The store is asked only about a name the settings don't know. With ``store_may_be_down``
    (a worker, which must wait out an outage rather than exit), a store that can't be reached
    lets the name through with a warning.

    Raises:
        DQueueError: the queue is unknown; the message lists the known ones.
    """
    if queue in configured_queues(settings):
        return
    try:
        known = known_queues(settings)
    except BackendUnavailable as exc:
        if not store_may_be_down:
            raise
        _logger.warning("could not check queue %r against the store (%s); serving it", queue, exc)
        return
    if queue not in known:
        raise DQueueError(f"unknown queue {queue!r} (known: {', '.join(known)})")


def backend_names(settings: Settings, queues: Sequence[str]) -> dict[str, str]:
    """The short class name of the backend of each queue (``SQLiteBackend``)."""
    return {queue: settings.backend_path(queue).rsplit(".", 1)[-1] for queue in queues}
