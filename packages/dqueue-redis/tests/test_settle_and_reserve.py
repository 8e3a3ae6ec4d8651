"""Settling a batch and reserving the next in one round trip (``dqueue.backends.pipelining``).

On a real server, both backends: the Redis side of it (a script cache the server lost between
the two scripts, a queue in partitions that falls back to two calls). What the call settles and
hands out, and a worker draining through it, are in ``tests/contract/test_settle_and_reserve.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import redis

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.pipelining import SettlesAndReserves
from dqueue.job import Job

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]

WORKER = "web-1:100:abc"


def _acks(jobs: list[Job]) -> list[Outcome]:
    return [Outcome(job=job, kind=OutcomeKind.ACK, finished_at=job.enqueued_at) for job in jobs]


def test_both_redis_backends_can_settle_and_reserve_at_once(backend: Any) -> None:
    assert isinstance(backend, SettlesAndReserves)


def test_scripts_the_server_forgot_are_loaded_again(
    backend: Any, make_job: MakeJob, raw: redis.Redis
) -> None:
    backend.enqueue_many([make_job(), make_job()])
    first = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=1)
    raw.script_flush()

    lost, following = backend.settle_and_reserve(_acks(first), "default", worker_id=WORKER, limit=1)

    assert lost == []
    assert len(following) == 1
    assert backend.counts("default").ready == 0


def test_a_queue_in_partitions_settles_and_reserves_in_two_calls(
    make_backend: MakeBackend, make_job: MakeJob
) -> None:
    backend = make_backend(REDIS_PARTITIONS={"default": 2})
    jobs = [make_job(meta={"partition_key": f"k{n}"}) for n in range(6)]
    backend.enqueue_many(jobs)
    first = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)

    lost, following = backend.settle_and_reserve(
        _acks(first), "default", worker_id=WORKER, limit=10
    )

    assert lost == []
    assert {job.id for job in [*first, *following]} == {job.id for job in jobs}
    assert backend.counts("default").in_flight == (4 if backend.supports_leases else 0)
