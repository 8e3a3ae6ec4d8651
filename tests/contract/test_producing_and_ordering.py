"""Contract: enqueueing, the order of hand-out, delays, batching and attempts."""

from __future__ import annotations

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from tests.contract.conftest import MakeJob
from tests.contract.helpers import WORKER, drain_ids, require, require_queue_wide_order, take_one


def test_reserve_returns_the_enqueued_envelope_with_the_attempt_counted(
    backend: Backend, make_job: MakeJob
) -> None:
    job = make_job(
        args=(1, "two", [3.5, None], {"four": True}),
        kwargs={"name": "ünïcode ✓", "nested": {"list": [1, 2]}},
        max_attempts=4,
        timeout=12.5,
        sigkill_on_stop=True,
        meta={"trace": "abc"},
    )
    assert backend.enqueue(job) == job.id

    reserved = take_one(backend)

    assert reserved == job.with_changes(attempt=1)


def test_jobs_of_one_priority_come_out_in_enqueue_order(
    backend: Backend, make_job: MakeJob
) -> None:
    require_queue_wide_order(backend)
    jobs = [make_job() for _ in range(5)]
    for job in jobs:
        backend.enqueue(job)

    assert drain_ids(backend) == [job.id for job in jobs]


def test_higher_priority_jobs_come_out_first(backend: Backend, make_job: MakeJob) -> None:
    require_queue_wide_order(backend)
    require(backend, "supports_priority")
    low, high, middle = make_job(priority=0), make_job(priority=10), make_job(priority=5)
    backend.enqueue_many([low, high, middle])

    assert drain_ids(backend) == [high.id, middle.id, low.id]


def test_reserve_skips_jobs_not_yet_due(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_delay")
    later = make_job(run_after=clock.time() + 60)
    now = make_job()
    backend.enqueue_many([later, now])

    assert [
        job.id for job in backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=5)
    ] == [now.id]
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []


def test_delayed_job_is_reserved_once_due(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_delay")
    job = make_job(run_after=clock.time() + 60)
    backend.enqueue(job)
    clock.advance(59.9)
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []

    clock.advance(0.1)

    assert take_one(backend).id == job.id


def test_due_jobs_come_out_earliest_due_first(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require_queue_wide_order(backend)
    require(backend, "supports_delay")
    second = make_job(run_after=clock.time() + 20)
    first = make_job(run_after=clock.time() + 10)
    backend.enqueue_many([second, first])
    clock.advance(30)

    assert drain_ids(backend) == [first.id, second.id]


def test_reserve_hands_out_at_most_limit_jobs(backend: Backend, make_job: MakeJob) -> None:
    require_queue_wide_order(backend)
    jobs = [make_job() for _ in range(7)]
    backend.enqueue_many(jobs)

    first = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=3)
    second = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=3)
    third = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=3)

    assert [len(first), len(second), len(third)] == [3, 3, 1]
    assert [job.id for job in first + second + third] == [job.id for job in jobs]


def test_reserve_of_an_empty_queue_returns_nothing(backend: Backend) -> None:
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []


def test_reserve_takes_only_jobs_of_its_queue(backend: Backend, make_job: MakeJob) -> None:
    mail = make_job(queue="mail")
    backend.enqueue_many([make_job(queue="reports"), mail])

    assert [job.id for job in backend.reserve("mail", worker_id=WORKER, timeout_s=0, limit=5)] == [
        mail.id
    ]


def test_enqueue_many_stores_jobs_in_order_and_returns_their_ids(
    backend: Backend, make_job: MakeJob
) -> None:
    require_queue_wide_order(backend)
    jobs = [make_job(args=(index,)) for index in range(20)]

    ids = backend.enqueue_many(jobs)

    assert ids == [job.id for job in jobs]
    assert drain_ids(backend) == ids


def test_enqueue_of_an_id_already_stored_stores_nothing(
    backend: Backend, make_job: MakeJob
) -> None:
    job = make_job(args=(1,))
    backend.enqueue(job)

    assert backend.enqueue(job.with_changes(args=(2,))) == job.id

    assert backend.counts("default").ready == 1
    assert take_one(backend).args == (1,)


def test_enqueue_of_the_id_of_a_reserved_job_stores_nothing(
    backend: Backend, make_job: MakeJob
) -> None:
    require(backend, "supports_leases")
    job = make_job()
    backend.enqueue(job)
    take_one(backend)

    assert backend.enqueue(job) == job.id

    assert backend.counts("default").ready == 0


def test_queues_lists_every_queue_that_got_jobs(backend: Backend, make_job: MakeJob) -> None:
    backend.enqueue_many([make_job(queue="mail"), make_job(queue="reports"), make_job()])

    assert backend.queues() == ["default", "mail", "reports"]


def test_ping_succeeds_on_a_working_backend(backend: Backend) -> None:
    backend.ping()

    assert backend.queues() == []
