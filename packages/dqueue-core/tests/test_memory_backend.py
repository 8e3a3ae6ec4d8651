"""The memory store's own bookkeeping (its behaviour is in the contract suite)."""

from __future__ import annotations

from dqueue.backends.base import Outcome, OutcomeKind, StoreOptions
from dqueue.backends.memory import MemoryBackend
from dqueue.clock import ManualClock
from dqueue.job import Job


def _run(backend: MemoryBackend, number: int) -> None:
    backend.enqueue(Job(id=f"job-{number}", task="app.work", enqueued_at=backend.clock.time()))
    [job] = backend.reserve("default", worker_id="w", timeout_s=0)
    assert backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id="w") == []


def test_finished_ids_are_forgotten_once_their_retention_passed() -> None:
    clock = ManualClock()
    backend = MemoryBackend(StoreOptions(id_retention_s=10.0), clock=clock)
    for number in range(3):
        _run(backend, number)
    clock.advance(10.0)

    _run(backend, 3)

    assert list(backend._finished) == ["job-3"]
