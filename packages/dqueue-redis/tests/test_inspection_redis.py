"""Job inspection where Redis's structures decide: ties in sorted sets, shifting ready lists,
the at-most-once hand-out. The contract suite (tests/contract/test_inspection.py) holds the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dqueue.backends.base import JobStatus, Outcome, OutcomeKind
from dqueue.backends.inspection import JobState, JobView
from dqueue.clock import ManualClock
from dqueue.job import Job
from dqueue_redis import RedisBackend, ReliableRedisBackend

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]


def _ids(views: list[JobView]) -> list[str]:
    return [view.job.id for view in views]


def test_delayed_jobs_sharing_a_due_time_page_on_after_the_last_one_listed_is_gone(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock)
    due = clock.time() + 600
    jobs = [make_job(run_after=due) for _ in range(30)]
    backend.enqueue_many(jobs)
    first = backend.jobs("default", JobState.DELAYED, limit=10)
    assert first.cursor is not None
    backend.cancel([jobs[9].id, jobs[10].id])  # the last listed, and the one after it

    rest = backend.jobs("default", JobState.DELAYED, limit=100, cursor=first.cursor)

    assert _ids(first.views) == [job.id for job in jobs[:10]]
    assert _ids(rest.views) == [job.id for job in jobs[11:]]


def test_a_ready_page_goes_on_after_its_last_job_when_reserve_took_jobs_meanwhile(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock)
    jobs = [make_job() for _ in range(10)]
    backend.enqueue_many(jobs)
    first = backend.jobs("default", JobState.READY, limit=4)
    backend.reserve("default", worker_id="w", timeout_s=0, limit=2)  # the list's head moves

    rest = backend.jobs("default", JobState.READY, limit=4, cursor=first.cursor)

    assert _ids(rest.views) == [job.id for job in jobs[4:8]]


def test_an_in_flight_page_goes_on_after_its_last_job_when_that_lease_was_renewed(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock, cls=ReliableRedisBackend)
    backend.enqueue_many([make_job() for _ in range(4)])
    taken = []
    for _ in range(4):
        taken += backend.reserve("default", worker_id="w", timeout_s=0)
        clock.advance(1)
    first = backend.jobs("default", JobState.IN_FLIGHT, limit=2)
    backend.renew([taken[1].id], worker_id="w")  # the last listed now sorts last

    rest = backend.jobs("default", JobState.IN_FLIGHT, limit=10, cursor=first.cursor)

    assert _ids(first.views) == [job.id for job in taken[:2]]
    assert _ids(rest.views) == [taken[2].id, taken[3].id, taken[1].id]


def test_jobs_leased_together_page_on_after_the_last_one_listed_was_settled(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock, cls=ReliableRedisBackend)
    backend.enqueue_many([make_job() for _ in range(6)])
    taken = backend.reserve("default", worker_id="w", timeout_s=0, limit=6)  # one deadline
    first = backend.jobs("default", JobState.IN_FLIGHT, limit=3)
    backend.settle([Outcome(job=taken[2], kind=OutcomeKind.ACK)], worker_id="w")

    rest = backend.jobs("default", JobState.IN_FLIGHT, limit=10, cursor=first.cursor)

    assert _ids(first.views) == [job.id for job in taken[:3]]
    assert _ids(rest.views) == [job.id for job in taken[3:]]


def test_cancel_and_reschedule_find_a_delayed_job_among_thousands_due_at_its_time(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock)
    due = clock.time() + 600
    jobs = [make_job(run_after=due) for _ in range(2500)]
    backend.enqueue_many(jobs)

    assert backend.cancel([jobs[2200].id]) == [jobs[2200].id]
    assert backend.reschedule([jobs[2300].id], None) == [jobs[2300].id]

    assert backend.counts("default").delayed == 2498
    [moved] = backend.reserve("default", worker_id="w", timeout_s=0)
    assert moved.id == jobs[2300].id
    clock.advance(600)
    assert backend.reserve("default", worker_id="w", timeout_s=0, limit=1000)[-1].id == jobs[999].id


def test_at_most_once_a_reserved_job_is_neither_listed_found_nor_cancelled(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock, cls=RedisBackend)
    backend.enqueue(make_job())
    [running] = backend.reserve("default", worker_id="w", timeout_s=0)

    assert backend.jobs("default", JobState.IN_FLIGHT).views == []
    assert backend.job(running.id) is None
    assert backend.cancel([running.id]) == []

    done = Outcome(job=running, kind=OutcomeKind.ACK)
    assert backend.settle([done], worker_id="w") == []


def test_a_rescheduled_job_keeps_its_result_record_until_its_new_due_time(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock)
    job = make_job(result_ttl=60.0)
    backend.enqueue(job)

    backend.reschedule([job.id], clock.time() + 3600)
    clock.advance(3000)

    record = backend.result(job.id)
    assert record is not None
    assert record.status is JobStatus.QUEUED


def test_a_page_holds_at_most_a_thousand_jobs_and_says_where_to_go_on(
    make_backend: MakeBackend, make_job: MakeJob
) -> None:
    backend = make_backend()
    backend.enqueue_many([make_job() for _ in range(1001)])

    page = backend.jobs("default", JobState.READY, limit=5000)

    assert len(page.views) == 1000
    assert len(backend.jobs("default", JobState.READY, cursor=page.cursor).views) == 1
