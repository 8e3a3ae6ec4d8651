"""Which queues the command line knows, and which backend serves each."""

from __future__ import annotations

from collections.abc import Sequence

from ..backends import Backend, get_backend
from ..errors import DQueueError
from ..registry import REGISTRY
from ..settings import Settings

__all__ = ["backend_names", "backends_in_use", "check_queue", "known_queues"]


def backends_in_use(settings: Settings) -> list[Backend]:
    """One instance of every configured backend: ``DQUEUE_BACKEND`` and the overrides'."""
    seen: dict[str, Backend] = {}
    # A queue name no override can hold ("" is never a queue) selects DQUEUE_BACKEND itself.
    for queue in ("", *settings.BACKEND_OVERRIDES):
        backend = get_backend(queue, settings=settings)
        seen.setdefault(backend.name, backend)
    return list(seen.values())


def known_queues(settings: Settings) -> list[str]:
    """``default``, ``DQUEUE_WORKERS``' queues, registered tasks' queues and stored queues."""
    names = {"default", *settings.WORKERS, *settings.BACKEND_OVERRIDES, *REGISTRY.queues()}
    for backend in backends_in_use(settings):
        names.update(backend.queues())
    return sorted(names)


def check_queue(settings: Settings, queue: str) -> None:
    """Refuse a queue name nothing knows (a typo would otherwise act on an empty queue).

    Raises:
        DQueueError: the queue is unknown; the message lists the known ones.
    """
    known = known_queues(settings)
    if queue not in known:
        raise DQueueError(f"unknown queue {queue!r} (known: {', '.join(known)})")


def backend_names(settings: Settings, queues: Sequence[str]) -> dict[str, str]:
    """The short class name of the backend of each queue (``SQLiteBackend``)."""
    return {queue: settings.backend_path(queue).rsplit(".", 1)[-1] for queue in queues}
