"""RQ's no-op task (RQ finds it by its dotted path, ``peers.rq_tasks.noop``)."""

from __future__ import annotations

from peers import probe


def noop(due: float | None = None) -> None:
    probe.record(due)
