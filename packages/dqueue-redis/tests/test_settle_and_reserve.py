"""Settling a batch and reserving the next in one round trip (``dqueue.backends.pipelining``).

On a real server, both backends: what the call settles and hands out, where it falls back to two
calls, a script cache the server lost between them, and a burst worker that drains through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import redis

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.pipelining import SettlesAndReserves
from dqueue.hooks import WorkerHooks
from dqueue.job import Job
from dqueue.settings import Settings
from dqueue.task import task
from dqueue.worker import Worker
from dqueue_redis import ReliableRedisBackend

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]

WORKER = "web-1:100:abc"
RAN: list[int] = []


@task(queue="pipelined")
def note_run(n: int) -> None:
    """Note a run."""
    RAN.append(n)


def _acks(jobs: list[Job]) -> list[Outcome]:
    return [Outcome(job=job, kind=OutcomeKind.ACK, finished_at=job.enqueued_at) for job in jobs]


def test_both_redis_backends_can_settle_and_reserve_at_once(backend: Any) -> None:
    assert isinstance(backend, SettlesAndReserves)


def test_the_outcomes_are_settled_and_the_next_jobs_handed_out(
    backend: Any, make_job: MakeJob
) -> None:
    jobs = [make_job() for _ in range(5)]
    backend.enqueue_many(jobs)
    first = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)

    lost, following = backend.settle_and_reserve(_acks(first), "default", worker_id=WORKER, limit=2)

    assert lost == []
    assert [job.id for job in following] == [job.id for job in jobs[2:4]]
    assert all(job.attempt == 1 for job in following)
    counts = backend.counts("default")
    # At-most-once, handed-out jobs have left the store (in flight only at-least-once).
    assert (counts.ready, counts.in_flight) == (1, 2 if backend.supports_leases else 0)


def test_at_least_once_a_lost_lease_is_reported_and_the_reserve_still_happens(
    make_backend: MakeBackend, make_job: MakeJob
) -> None:
    backend = make_backend(cls=ReliableRedisBackend)
    backend.enqueue_many([make_job(), make_job()])
    (first,) = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=1)
    backend.settle(_acks([first]), worker_id=WORKER)  # settled once already: no lease now

    lost, following = backend.settle_and_reserve(
        _acks([first]), "default", worker_id=WORKER, limit=5
    )

    assert lost == [first.id]
    assert len(following) == 1


def test_a_released_job_may_come_back_in_the_same_call(backend: Any, make_job: MakeJob) -> None:
    backend.enqueue(make_job())
    (job,) = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=1)
    release = Outcome(job=job, kind=OutcomeKind.RELEASE)

    lost, following = backend.settle_and_reserve([release], "default", worker_id=WORKER, limit=1)

    assert lost == []
    assert [(again.id, again.attempt) for again in following] == [(job.id, 1)]


def test_with_nothing_due_it_reserves_nothing_and_does_not_wait(
    backend: Any, make_job: MakeJob
) -> None:
    backend.enqueue(make_job())
    (job,) = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=1)
    delayed = make_job(run_after=job.enqueued_at + 3600)
    backend.enqueue(delayed)

    lost, following = backend.settle_and_reserve(_acks([job]), "default", worker_id=WORKER, limit=4)

    assert (lost, following) == ([], [])
    assert backend.counts("default").delayed == 1


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


@pytest.mark.parametrize("prefetch", [1, 4])
def test_a_burst_worker_drains_through_it_running_every_job_once(
    make_backend: MakeBackend, prefetch: int
) -> None:
    backend = make_backend()
    calls: list[int] = []
    settle_and_reserve = backend.settle_and_reserve

    def counted(outcomes: Any, queue: str, **kwargs: Any) -> Any:
        calls.append(len(outcomes))
        return settle_and_reserve(outcomes, queue, **kwargs)

    backend.settle_and_reserve = counted
    RAN.clear()
    backend.enqueue_many([note_run.build_job((n,), {}) for n in range(40)])
    settings = Settings().replace(PREFETCH=prefetch)

    Worker(settings, "pipelined", 1, backend=backend, burst=True).run()

    assert sorted(RAN) == list(range(40))
    assert calls
    assert sum(calls) == 40  # every outcome went through it
    counts = backend.counts("pipelined")
    assert (counts.ready, counts.in_flight) == (0, 0)


class _StopAfterFirstSettle(WorkerHooks):
    """Stops its worker right after the first settle: jobs reserved with it are not started."""

    def __init__(self) -> None:
        self.worker: Worker | None = None

    def settled(self, outcomes: Any, lost_ids: Any, dropped: Any) -> None:
        if self.worker is not None and outcomes:
            self.worker.stop()


def test_jobs_reserved_with_the_last_settle_are_given_back_by_a_stopping_worker(
    make_backend: MakeBackend,
) -> None:
    backend = make_backend()
    RAN.clear()
    backend.enqueue_many([note_run.build_job((n,), {}) for n in range(10)])
    stopper = _StopAfterFirstSettle()
    settings = Settings().replace(PREFETCH=1)
    worker = Worker(settings, "pipelined", 1, backend=backend, hooks=[stopper])
    stopper.worker = worker

    worker.run()

    assert RAN == [0]  # the first job ran; the one reserved with its settle did not
    counts = backend.counts("pipelined")
    assert (counts.ready, counts.in_flight) == (9, 0)
    (again,) = backend.reserve("pipelined", worker_id=WORKER, timeout_s=0, limit=1)
    assert again.attempt == 1  # given back unstarted: its attempt not counted
