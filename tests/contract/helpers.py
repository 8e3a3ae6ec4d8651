"""Small helpers shared by the contract tests."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest

from dqueue.backends.base import Backend, Outcome, OutcomeKind
from dqueue.job import Job, JobFailure

WORKER = "host:1:worker-a"
OTHER_WORKER = "host:2:worker-b"


def require(backend: Backend, flag: str) -> None:
    """Skip the test when ``backend`` says it lacks the capability ``flag``."""
    if not getattr(backend, flag):
        pytest.skip(f"{type(backend).__name__} has {flag} = False")


def require_queue_wide_order(backend: Backend, queue: str = "default") -> None:
    """Skip the test when ``queue`` is in partitions (Redis ``DQUEUE_REDIS_PARTITIONS``).

    There the order of hand-out, of dead letters and of lateness samples, and the dead-letter
    limit, hold per partition (the dqueue-redis README's table; ``test_partitions.py`` holds
    them to it); everything else of the contract holds for the queue.
    """
    partitions = getattr(backend, "partitions", None)
    if partitions is not None and len(partitions(queue)) > 1:
        pytest.skip(f"{queue} is in partitions: order and the dead-letter limit hold per partition")


def running(thread: threading.Thread, function: Callable[..., Any]) -> bool:
    """Whether ``thread`` is inside a call of ``function`` now (anywhere in its stack)."""
    frame = sys._current_frames().get(thread.ident or 0)
    try:
        while frame is not None and frame.f_code is not function.__code__:
            frame = frame.f_back
    except AttributeError:  # the thread's frames changed under us (CPython): not known yet
        return False
    return frame is not None


def failure(message: str = "boom", *, attempt: int = 1, at: float = 0.0) -> JobFailure:
    """A failure as a task raising ``ValueError(message)`` would leave."""
    return JobFailure(
        exception_type="builtins.ValueError",
        message=message,
        traceback=f"Traceback (most recent call last):\nValueError: {message}\n",
        at=at,
        attempt=attempt,
    )


def take_one(backend: Backend, queue: str = "default", *, worker_id: str = WORKER) -> Job:
    """Reserve exactly one job without waiting; fail the test if there is none."""
    jobs = backend.reserve(queue, worker_id=worker_id, timeout_s=0)
    assert len(jobs) == 1, f"expected one job from {queue!r}, got {jobs!r}"
    return jobs[0]


def drain_ids(backend: Backend, queue: str = "default", *, worker_id: str = WORKER) -> list[str]:
    """Reserve and ack everything due in ``queue``, returning the ids in hand-out order."""
    ids: list[str] = []
    while jobs := backend.reserve(queue, worker_id=worker_id, timeout_s=0, limit=10):
        ids.extend(job.id for job in jobs)
        lost = backend.settle(
            [Outcome(job=job, kind=OutcomeKind.ACK) for job in jobs], worker_id=worker_id
        )
        assert lost == []
    return ids
