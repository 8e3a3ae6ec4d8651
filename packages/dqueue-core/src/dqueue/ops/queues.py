"""Which queues exist: what the settings, the tasks and the stores know.

A front end that knows more queues (Django's installed apps, cron entries) passes them as
``extra``. A store lists a queue only if that store serves it: a queue that another backend's
override took is not shown twice.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass

from ..backends import get_backend
from ..backends.base import control_of
from ..errors import BackendUnavailable, DQueueError, UnknownQueue, UnsupportedOperation
from ..registry import REGISTRY, TaskRegistry
from ..settings import Settings

__all__ = ["QueueListing", "check_queue", "configured_queues", "list_queues"]

_logger = logging.getLogger("dqueue.ops")


@dataclass(frozen=True, slots=True)
class QueueListing:
    """Every known queue (sorted), and why some stores could not be asked (when tolerated)."""

    queues: tuple[str, ...]
    errors: tuple[str, ...] = ()


def configured_queues(
    settings: Settings, extra: Iterable[str] = (), *, registry: TaskRegistry = REGISTRY
) -> set[str]:
    """``default``, the queues of ``DQUEUE_WORKERS``, of the overrides, of tasks, and ``extra``.

    A front end that finds its tasks itself (Django's installed apps) passes them in ``extra``
    and an empty ``registry``: then a task imported from elsewhere implies no queue.
    """
    known = {"default", *settings.WORKERS, *settings.BACKEND_OVERRIDES, *extra}
    return known | registry.queues()


def list_queues(
    settings: Settings,
    *,
    extra: Iterable[str] = (),
    registry: TaskRegistry = REGISTRY,
    keep_going: bool = False,
) -> QueueListing:
    """The configured queues (see :func:`configured_queues`) and those their stores hold.

    Raises:
        DQueueError: a store failed, unless ``keep_going`` (its error is then in ``errors``).
    """
    known = configured_queues(settings, extra, registry=registry)
    asked: set[str] = set()
    errors: list[str] = []
    # "" is never a queue, so it selects DQUEUE_BACKEND even when "default" is overridden.
    for queue in ["", *sorted(known)]:
        path = settings.backend_path(queue)
        if path in asked:
            continue
        asked.add(path)
        try:
            stored = control_of(get_backend(queue, settings=settings)).queues()
        except UnsupportedOperation:
            continue
        except DQueueError as exc:
            if not keep_going:
                raise
            errors.append(f"{path}: {exc}")
            continue
        known.update(name for name in stored if settings.backend_path(name) == path)
    return QueueListing(tuple(sorted(known)), tuple(errors))


def check_queue(
    settings: Settings,
    queue: str,
    *,
    extra: Iterable[str] = (),
    registry: TaskRegistry = REGISTRY,
    store_may_be_down: bool = False,
) -> None:
    """Refuse a queue name nothing knows (a typo would otherwise act on an empty queue).

    The stores are asked only about a name the settings don't know. With ``store_may_be_down``
    (a worker, which must wait out an outage rather than exit), a store that can't be reached
    lets the name through with a warning.

    Raises:
        UnknownQueue: the queue is unknown; the message lists the known ones.
    """
    extra = tuple(extra)
    if queue in configured_queues(settings, extra, registry=registry):
        return
    try:
        known = list_queues(settings, extra=extra, registry=registry).queues
    except BackendUnavailable as exc:
        if not store_may_be_down:
            raise
        _logger.warning("could not check queue %r against the store (%s); serving it", queue, exc)
        return
    if queue not in known:
        raise UnknownQueue(f"unknown queue {queue!r} (known: {', '.join(known)})")
