"""dqueue's no-op task; the backend comes from ``DQUEUE_*`` environment variables."""

from __future__ import annotations

from dqueue import task
from peers import probe


@task(queue="bench")
def noop(due: float | None = None) -> None:
    probe.record(due)
