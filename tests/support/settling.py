"""The settle verbs tests use: ack, retry, dead and release, each one ``Backend.settle`` call.

The backend contract has only ``settle``; these spell its common outcomes the way a test reads
best. Each returns what the store said: ``True`` when the worker still held the lease.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dqueue.backends.base import Backend, Outcome, OutcomeKind
from dqueue.job import Job, JobFailure

__all__ = ["ack", "dead", "release", "retry"]


def ack(backend: Backend, job: Job, *, worker_id: str, result: Any = None) -> bool:
    """Finish ``job``; ``False`` when the lease was lost."""
    now = backend.clock.time()
    outcome = Outcome(job=job, kind=OutcomeKind.ACK, result=result, finished_at=now)
    return not backend.settle([outcome], worker_id=worker_id)


def retry(
    backend: Backend, job: Job, *, worker_id: str, run_after: float, failure: JobFailure
) -> bool:
    """Store ``job`` again, due at ``run_after``; ``False`` when the lease was lost."""
    outcome = Outcome(job=job, kind=OutcomeKind.RETRY, run_after=run_after, failure=failure)
    return not backend.settle([outcome], worker_id=worker_id)


def dead(backend: Backend, job: Job, *, worker_id: str, failure: JobFailure) -> bool:
    """Move ``job`` to the dead letters; ``False`` when the lease was lost."""
    outcome = Outcome(job=job, kind=OutcomeKind.DEAD, failure=failure)
    return not backend.settle([outcome], worker_id=worker_id)


def release(backend: Backend, jobs: Sequence[Job], *, worker_id: str) -> list[str]:
    """Return reserved jobs that never started (attempts not counted); the ids it lost."""
    outcomes = [Outcome(job=job, kind=OutcomeKind.RELEASE) for job in jobs]
    return backend.settle(outcomes, worker_id=worker_id)
