"""Contract: settling a batch and reserving the next at once (``dqueue.backends.pipelining``).

Every store that implements :class:`SettlesAndReserves` settles exactly as ``settle`` and then
reserves as ``reserve`` with no wait: lost leases reported, released jobs handed out again, a
paused queue and poison treated as a reserve treats them, results recorded. A burst worker
drains through it after each full batch (a short one is settled alone: more jobs are not
likely), and one that stops gives back what it reserved ahead. Stores without it are skipped
(the worker settles and reserves in two calls there).
"""

from __future__ import annotations

from typing import Any

import pytest

from dqueue.backends.base import Backend, JobStatus, Outcome, OutcomeKind
from dqueue.backends.pipelining import SettlesAndReserves
from dqueue.clock import ManualClock
from dqueue.failures import FailureKind
from dqueue.hooks import WorkerHooks
from dqueue.job import Job
from dqueue.prefetch import AdaptivePrefetch
from dqueue.settings import Settings
from dqueue.task import task
from dqueue.worker import Worker
from tests.contract.conftest import MakeBackend, MakeJob
from tests.contract.helpers import WORKER, require_queue_wide_order, take_one
from tests.support.poison import inject, poison_payload

RAN: list[int] = []


@task(queue="pipelined")
def note_run(n: int) -> None:
    """Note a run."""
    RAN.append(n)


def _pipelined(backend: Backend) -> Any:
    if not isinstance(backend, SettlesAndReserves):
        pytest.skip(f"{type(backend).__name__} settles and reserves in two calls")
    return backend


def _acks(jobs: list[Job]) -> list[Outcome]:
    return [Outcome(job=job, kind=OutcomeKind.ACK, finished_at=job.enqueued_at) for job in jobs]


def test_the_outcomes_are_settled_and_the_next_jobs_handed_out(
    backend: Backend, make_job: MakeJob
) -> None:
    require_queue_wide_order(backend)
    store = _pipelined(backend)
    jobs = [make_job() for _ in range(5)]
    backend.enqueue_many(jobs)
    first = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)

    lost, following = store.settle_and_reserve(_acks(first), "default", worker_id=WORKER, limit=2)

    assert lost == []
    assert [job.id for job in following] == [job.id for job in jobs[2:4]]
    assert all(job.attempt == 1 for job in following)
    counts = backend.counts("default")
    # At-most-once, handed-out jobs have left the store (in flight only at-least-once).
    assert (counts.ready, counts.in_flight) == (1, 2 if backend.supports_leases else 0)


def test_a_lost_lease_is_reported_and_the_reserve_still_happens(
    backend: Backend, make_job: MakeJob
) -> None:
    store = _pipelined(backend)
    if not backend.supports_leases:
        pytest.skip("no leases to lose")
    backend.enqueue_many([make_job(), make_job()])
    first = take_one(backend)
    backend.settle(_acks([first]), worker_id=WORKER)  # settled once already: no lease now

    lost, following = store.settle_and_reserve(_acks([first]), "default", worker_id=WORKER, limit=5)

    assert lost == [first.id]
    assert len(following) == 1


def test_a_released_job_may_come_back_in_the_same_call(backend: Backend, make_job: MakeJob) -> None:
    store = _pipelined(backend)
    backend.enqueue(make_job())
    job = take_one(backend)
    release = Outcome(job=job, kind=OutcomeKind.RELEASE)

    lost, following = store.settle_and_reserve([release], "default", worker_id=WORKER, limit=1)

    assert lost == []
    assert [(again.id, again.attempt) for again in following] == [(job.id, 1)]


def test_with_nothing_due_it_reserves_nothing(backend: Backend, make_job: MakeJob) -> None:
    store = _pipelined(backend)
    backend.enqueue(make_job())
    job = take_one(backend)
    backend.enqueue(make_job(run_after=job.enqueued_at + 3600))

    lost, following = store.settle_and_reserve(_acks([job]), "default", worker_id=WORKER, limit=4)

    assert (lost, following) == ([], [])
    counts = backend.counts("default")
    assert (counts.delayed, counts.in_flight) == (1, 0)


def test_a_delayed_job_that_came_due_is_handed_out(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    store = _pipelined(backend)
    backend.enqueue(make_job())
    job = take_one(backend)
    later = make_job(run_after=clock.time() + 5)
    backend.enqueue(later)
    clock.advance(6)

    lost, following = store.settle_and_reserve(_acks([job]), "default", worker_id=WORKER, limit=4)

    assert (lost, [again.id for again in following]) == ([], [later.id])


def test_a_paused_queue_is_settled_but_hands_out_nothing(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    store = _pipelined(backend)
    backend.enqueue_many([make_job(), make_job()])
    job = take_one(backend)
    backend.pause("default", clock.time() + 600)

    lost, following = store.settle_and_reserve(_acks([job]), "default", worker_id=WORKER, limit=4)

    assert (lost, following) == ([], [])
    counts = backend.counts("default")
    assert (counts.ready, counts.in_flight) == (1, 0)


def test_a_poisoned_job_it_meets_goes_to_the_dead_letters_alone(
    backend: Backend, make_job: MakeJob
) -> None:
    store = _pipelined(backend)
    backend.enqueue(make_job())
    job = take_one(backend)
    inject(backend, "default", "poisoned-1", poison_payload("not-json", "poisoned-1", "default"))
    good = make_job()
    backend.enqueue(good)

    lost, following = store.settle_and_reserve(_acks([job]), "default", worker_id=WORKER, limit=4)

    assert lost == []
    assert [again.id for again in following] == [good.id]
    [letter] = backend.dead_letters("default")
    assert letter.raw is not None  # not-JSON: no id to read, the raw payload is kept
    assert letter.failure.exception_type == FailureKind.UNDECODABLE


def test_a_job_keeping_its_result_is_recorded_as_running(
    backend: Backend, make_job: MakeJob
) -> None:
    store = _pipelined(backend)
    if not backend.supports_results:
        pytest.skip("no results kept")
    first, second = make_job(result_ttl=60.0), make_job(result_ttl=60.0)
    backend.enqueue_many([first, second])
    taken = take_one(backend)

    store.settle_and_reserve(_acks([taken]), "default", worker_id=WORKER, limit=1)

    other = second if taken.id == first.id else first
    done, running = backend.result(taken.id), backend.result(other.id)
    assert done is not None
    assert done.status is JobStatus.SUCCEEDED
    assert running is not None
    assert (running.status, running.attempt, running.worker_ids) == (
        JobStatus.RUNNING,
        1,
        (WORKER,),
    )


def _counting(backend: Backend) -> tuple[list[int], list[int]]:
    """Count the outcomes each settle carries: with a reserve, and alone."""
    store = _pipelined(backend)
    with_reserve: list[int] = []
    alone: list[int] = []
    settle_and_reserve, settle = store.settle_and_reserve, backend.settle

    inside: list[bool] = []  # a store that falls back to two calls settles through settle()

    def counted_with_reserve(outcomes: Any, queue: str, **kwargs: Any) -> Any:
        with_reserve.append(len(outcomes))
        inside.append(True)
        try:
            return settle_and_reserve(outcomes, queue, **kwargs)
        finally:
            inside.pop()

    def counted_alone(outcomes: Any, **kwargs: Any) -> Any:
        if not inside:
            alone.append(len(outcomes))
        return settle(outcomes, **kwargs)

    store.settle_and_reserve = counted_with_reserve
    backend.settle = counted_alone  # type: ignore[method-assign]
    return with_reserve, alone


@pytest.mark.parametrize(
    ("prefetch", "settled_alone"),
    [
        (1, []),  # every batch full: each settle reserves the next
        # 1 + 2 + 4 x 9 = 39: the last batch holds 1 of 4, a short batch, settled alone
        (4, [1]),
    ],
)
def test_a_burst_worker_drains_through_it_running_every_job_once(
    make_backend: MakeBackend, prefetch: int, settled_alone: list[int]
) -> None:
    backend = make_backend()
    with_reserve, alone = _counting(backend)
    RAN.clear()
    backend.enqueue_many([note_run.build_job((n,), {}) for n in range(40)])
    worker = Worker(Settings(), "pipelined", 1, backend=backend, burst=True)
    # The batch grows 1, 2, 4, ... up to ``prefetch`` whatever the jobs' durations.
    worker.prefetch = AdaptivePrefetch(prefetch, target_batch_s=3600.0)

    worker.run()

    assert sorted(RAN) == list(range(40))
    assert alone == settled_alone
    assert sum(with_reserve) == 40 - sum(settled_alone)
    counts = backend.counts("pipelined")
    assert (counts.ready, counts.in_flight) == (0, 0)


def test_after_a_short_batch_the_worker_settles_alone_and_waits_for_the_next(
    make_backend: MakeBackend,
) -> None:
    backend = make_backend()
    with_reserve, alone = _counting(backend)
    RAN.clear()
    backend.enqueue(note_run.build_job((0,), {}))
    worker = Worker(Settings(), "pipelined", 1, backend=backend, burst=True)
    worker.prefetch = AdaptivePrefetch(8, target_batch_s=3600.0)
    worker.prefetch.limit = 8  # a trickle: one job where eight were asked for

    worker.run()

    assert RAN == [0]
    assert (with_reserve, alone) == ([], [1])


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
    _pipelined(backend)
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
    again = take_one(backend, "pipelined")
    assert again.attempt == 1  # given back unstarted: its attempt not counted
