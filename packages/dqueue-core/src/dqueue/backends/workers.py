"""Live workers, seen as they are: each worker beats into its store, readers list the living.

``status`` and the admin used to show the *configured* worker counts, and "running" with no
runner up. A store that implements :class:`WorkerRegistry` keeps what each worker last said of
itself (host, pid, queue, since when, its current job, jobs done and failed); front ends
(``dqueue workers``, ``status``, ``queue_status``, the admin, the metrics) detect it with
``isinstance``, as they detect :class:`~dqueue.backends.base.QueueControl`.

Semantics every store keeps:

- ``beat`` records a worker's state, replacing its previous beat; the worker is alive until
  ``ttl_s`` seconds after the beat, measured by the store's clock where it has one (so that a
  worker whose clock is off is not dropped early or kept late), and drops out of ``workers``
  after that without anyone removing it: a killed worker disappears by itself.
- ``forget`` removes a worker at once (a worker that stops cleanly says goodbye).
- ``workers`` lists the living, of one queue or of all, ordered by queue, host, pid and name.
  Beats are small and few (one per worker every few seconds); a store may keep them apart from
  jobs (a Redis key per worker with a TTL, an SQLite table, a dict).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import UnsupportedOperation
from .base import Backend

__all__ = ["WorkerBeat", "WorkerRegistry", "ordered", "registry_of"]


@dataclass(frozen=True, slots=True, kw_only=True)
class WorkerBeat:
    """What a worker last said of itself."""

    #: The worker's id (``host:pid:random``), as leases and results name it.
    worker_id: str
    #: Its name in the pool (``queue/slot``), as logs and process titles name it.
    name: str
    queue: str
    host: str
    pid: int
    #: When it started serving (epoch seconds).
    started_at: float
    #: When it beat (epoch seconds); the store fills it in with its own time where it has one.
    beat_at: float = 0.0
    #: The job it is running, its task and since when; ``None`` when idle.
    job_id: str | None = None
    job_task: str | None = None
    job_started_at: float | None = None
    #: Jobs it finished since it started, and how many of those failed.
    processed: int = 0
    failed: int = 0


@runtime_checkable
class WorkerRegistry(Protocol):
    """Heartbeats of live workers (see the module docstring)."""

    def beat(self, beat: WorkerBeat, *, ttl_s: float) -> None:
        """Record ``beat``; the worker counts as alive for ``ttl_s`` seconds from now."""

    def forget(self, worker_id: str) -> None:
        """Drop the worker ``worker_id`` from the living now (it stopped cleanly)."""

    def workers(self, queues: Sequence[str] | None = None) -> list[WorkerBeat]:
        """The living workers of ``queues`` (``None``: every queue), sorted."""


def ordered(beats: Iterable[WorkerBeat]) -> list[WorkerBeat]:
    """``beats`` in the order ``workers`` lists them: by queue, host, pid and name (then id)."""
    return sorted(beats, key=lambda one: (one.queue, one.host, one.pid, one.name, one.worker_id))


def registry_of(backend: Backend) -> WorkerRegistry:
    """``backend`` as :class:`WorkerRegistry`.

    Raises:
        UnsupportedOperation: the backend keeps no record of live workers.
    """
    if not isinstance(backend, WorkerRegistry):
        raise UnsupportedOperation(f"{backend.name} keeps no record of live workers")
    return backend
