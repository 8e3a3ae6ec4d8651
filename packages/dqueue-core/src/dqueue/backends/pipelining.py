"""Settling one batch and reserving the next in one round trip, for stores that can.

A worker settles a batch's outcomes and then reserves the next batch: two round trips to a
networked store, each costing the worker the packing, the sending and the reading, and the
wait. A store that implements :class:`SettlesAndReserves` carries both in one; the worker
detects it with ``isinstance``, as front ends detect
:class:`~dqueue.backends.base.QueueControl`, and falls back to the two calls otherwise.

Semantics every such store keeps:

- the outcomes are settled exactly as :meth:`~dqueue.backends.base.Backend.settle` would
  settle them, and before the reserve: a job an outcome puts back on the queue may be among
  the jobs reserved;
- the reserve does not wait: with nothing due it reserves nothing, and the worker's next
  :meth:`~dqueue.backends.base.Backend.reserve` waits as usual;
- an error means neither effect is known, as for a failed settle: the worker keeps the
  outcomes and settles them again (a job already settled reports its lease lost), and jobs the
  lost reply would have handed out come back when their lease runs out (at-least-once), or are
  lost with it, as any reserved job whose worker fails (at-most-once).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, runtime_checkable

from ..job import Job
from .base import Outcome

__all__ = ["SettlesAndReserves"]


@runtime_checkable
class SettlesAndReserves(Protocol):
    """A store that settles outcomes and reserves the next jobs in one round trip."""

    def settle_and_reserve(
        self, outcomes: Sequence[Outcome], queue: str, *, worker_id: str, limit: int
    ) -> tuple[list[str], list[Job]]:
        """Settle ``outcomes``, then reserve up to ``limit`` due jobs of ``queue`` at once.

        Returns the ids whose lease was lost (as ``settle``) and the jobs reserved, leased to
        ``worker_id`` (as ``reserve`` with no wait).
        """
        ...
