"""Live workers, as their stores know them: for ``dqueue workers``, ``status`` and the admin.

Each store is asked once, for the queues it serves (:mod:`dqueue.backends.workers`); a store
that keeps no record of workers is named, never guessed at. Times are shown against the
reader's clock.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from ..backends import get_backend
from ..backends.base import Backend
from ..backends.workers import WorkerBeat, WorkerRegistry, ordered
from ..clock import SYSTEM_CLOCK, Clock, to_datetime
from ..errors import UnsupportedOperation
from ..settings import Settings

__all__ = ["WorkerListing", "live_workers", "unserved", "worker_data"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerListing:
    """The live workers of some queues, as read at ``now`` (epoch seconds)."""

    workers: tuple[WorkerBeat, ...]
    now: float
    #: How many stores were asked.
    stores: int = 0
    #: Queues asked for whose store keeps no record of live workers.
    unseen: tuple[str, ...] = ()
    #: The backends (class names) asked that keep no record of live workers, one per store.
    blind: tuple[str, ...] = ()

    def live(self, queue: str) -> int | None:
        """How many workers of ``queue`` live; ``None`` when its store can't tell."""
        if queue in self.unseen:
            return None
        return sum(1 for beat in self.workers if beat.queue == queue)

    def check_seen(self) -> None:
        """Refuse a listing in which no store could be asked.

        Raises:
            UnsupportedOperation: every store asked keeps no record of live workers.
        """
        if self.stores and len(self.blind) == self.stores:
            names = ", ".join(dict.fromkeys(self.blind))
            raise UnsupportedOperation(f"{names} keeps no record of live workers")


def unserved(ready: int, live: int | None) -> bool:
    """Jobs are ready and no worker is known to be alive to run them.

    ``live`` is ``None`` when the store keeps no record of workers: nothing is known missing.
    """
    return ready > 0 and live == 0


def _short(backend: Backend) -> str:
    return backend.name.rsplit(".", 1)[-1]


def live_workers(
    settings: Settings,
    queues: Sequence[str] | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    backend_for: Callable[[str], Backend] | None = None,
) -> WorkerListing:
    """The live workers of ``queues``; ``None``: of every queue of every configured store.

    ``backend_for`` (``queue -> Backend``, :func:`~dqueue.backends.get_backend` by default) is
    how a caller that holds its stores already (the runner's metrics) has them asked.

    Raises:
        DQueueError: a store failed (``BackendUnavailable`` when it can't be reached).
    """
    # A queue that selects each store, and the queues to ask it for, by backend path.
    firsts: dict[str, str] = {}
    groups: dict[str, list[str]] = {}
    for queue in ["", *sorted(settings.BACKEND_OVERRIDES)] if queues is None else queues:
        path = settings.backend_path(queue)
        firsts.setdefault(path, queue)
        groups.setdefault(path, []).append(queue)
    found: list[WorkerBeat] = []
    unseen: list[str] = []
    blind: list[str] = []
    for path, first in firsts.items():
        chosen = None if queues is None else groups[path]
        backend = (
            get_backend(first, settings=settings) if backend_for is None else backend_for(first)
        )
        if not isinstance(backend, WorkerRegistry):
            blind.append(_short(backend))
            unseen.extend(chosen or ())
            continue
        beats = backend.workers(chosen)
        # A store lists every queue it holds; a queue served by another store is not its own.
        found.extend(beat for beat in beats if settings.backend_path(beat.queue) == path)
    return WorkerListing(
        workers=tuple(ordered(found)),
        now=clock.time(),
        stores=len(firsts),
        unseen=tuple(unseen),
        blind=tuple(blind),
    )


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else to_datetime(epoch).isoformat(timespec="seconds")


def _age(now: float, then: float | None) -> float | None:
    # Another machine's clock may be a little ahead: an age is never negative.
    return None if then is None else round(max(now - then, 0.0), 3)


def worker_data(beat: WorkerBeat, now: float) -> dict[str, Any]:
    """A live worker as JSON-ready data: what it said, its times as ISO 8601 and as ages."""
    return {
        "name": beat.name,
        "queue": beat.queue,
        "host": beat.host,
        "pid": beat.pid,
        "worker_id": beat.worker_id,
        "started_at": _iso(beat.started_at),
        "up_s": _age(now, beat.started_at),
        "job_id": beat.job_id,
        "job_task": beat.job_task,
        "job_started_at": _iso(beat.job_started_at),
        "job_running_s": _age(now, beat.job_started_at),
        "processed": beat.processed,
        "failed": beat.failed,
        "beat_at": _iso(beat.beat_at),
        "beat_ago_s": _age(now, beat.beat_at),
    }
