"""Contract: single jobs listed by state with a cursor, found by id, cancelled and rescheduled.

Every store that offers :class:`~dqueue.backends.inspection.JobInspection` keeps what its module
docstring promises; a store that does not is reported as skipped, with the reason.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from dqueue.backends.base import Backend, JobStatus
from dqueue.backends.inspection import JobInspection, JobState, JobView, inspection_of
from dqueue.clock import ManualClock
from dqueue.job import Job
from dqueue.settings import Settings
from tests.contract.conftest import MakeJob
from tests.contract.helpers import (
    WORKER,
    drain_ids,
    failure,
    require,
    require_queue_wide_order,
    take_one,
)
from tests.support.poison import POISON, inject, poison_payload
from tests.support.settling import ack, dead, release, retry


@pytest.fixture
def store(backend: Backend) -> JobInspection:
    """The backend as :class:`JobInspection`; the test is skipped when it does not offer it."""
    if not isinstance(backend, JobInspection):
        pytest.skip(f"{type(backend).__name__} does not implement JobInspection")
    return inspection_of(backend)


def _ids(views: list[JobView]) -> list[str]:
    return [view.job.id for view in views]


def _all_pages(store: JobInspection, state: JobState, *, limit: int) -> list[list[str]]:
    """Every page of ``state`` in ``default``, following cursors until ``None``."""
    pages: list[list[str]] = []
    cursor: str | None = None
    for _ in range(100):  # a store that never ends its cursor fails, not hangs
        page = store.jobs("default", state, limit=limit, cursor=cursor)
        assert len(page.views) <= limit
        assert all(view.state is state for view in page.views)
        pages.append(_ids(page.views))
        cursor = page.cursor
        if cursor is None:
            return pages
    pytest.fail("the cursor never ended")


def _stored_nothing(backend: Backend, clock: ManualClock) -> bool:
    """Nothing waits in ``default``, now or later."""
    clock.advance(24 * 3600)
    counts = backend.counts("default")
    return counts.ready == counts.delayed == 0 and not backend.reserve(
        "default", worker_id=WORKER, timeout_s=0
    )


# -- listing ---------------------------------------------------------------------------------


def test_ready_jobs_are_listed_in_the_order_reserve_hands_them_out(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    late = make_job()
    clock.advance(10)
    overdue = make_job(run_after=clock.time() - 60)  # due before the one enqueued first
    backend.enqueue_many([late, make_job(), overdue, make_job()])

    listed = store.jobs("default", JobState.READY).views

    assert _ids(listed) == drain_ids(backend)
    assert {view.job.id: view.due_at for view in listed}[overdue.id] == overdue.due_at


def test_ready_jobs_are_listed_highest_priority_first(
    backend: Backend, store: JobInspection, make_job: MakeJob
) -> None:
    require_queue_wide_order(backend)
    require(backend, "supports_priority")
    low, high, middle = make_job(priority=-1), make_job(priority=5), make_job(priority=1)
    backend.enqueue_many([low, high, middle])

    listed = _ids(store.jobs("default", JobState.READY).views)

    assert listed == [high.id, middle.id, low.id]
    assert listed == drain_ids(backend)


def test_a_delayed_job_that_became_due_is_listed_as_ready(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    job = make_job(run_after=clock.time() + 60)
    backend.enqueue(job)
    clock.advance(60)

    assert _ids(store.jobs("default", JobState.READY).views) == [job.id]
    assert store.jobs("default", JobState.DELAYED).views == []


def test_delayed_jobs_are_listed_earliest_due_first(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    require_queue_wide_order(backend)
    now = clock.time()
    third, first, second = (make_job(run_after=now + delay) for delay in (300, 100, 200))
    backend.enqueue_many([third, first, second, make_job()])

    listed = store.jobs("default", JobState.DELAYED).views

    assert _ids(listed) == [first.id, second.id, third.id]
    assert [view.due_at for view in listed] == [now + 100, now + 200, now + 300]
    assert listed[0].job == first


def test_jobs_in_flight_are_listed_earliest_reserved_first_with_their_worker_and_lease(
    backend: Backend,
    store: JobInspection,
    make_job: MakeJob,
    clock: ManualClock,
    settings: Settings,
) -> None:
    require(backend, "supports_leases")
    backend.enqueue_many([make_job(), make_job(), make_job()])
    first = take_one(backend)
    reserved_at = clock.time()
    clock.advance(5)
    second = take_one(backend)

    listed = store.jobs("default", JobState.IN_FLIGHT).views

    assert _ids(listed) == [first.id, second.id]
    assert listed[0].worker_id == WORKER
    # A store may count the lease from when it applied the reserve (Redis adds how late the
    # server ran it), never from before, and not as late as the second reserve.
    lease_until = listed[0].lease_until
    assert lease_until is not None
    assert reserved_at <= lease_until - settings.LEASE_SECONDS < clock.time()
    assert listed[0].job.attempt == 1  # the run counted, as the worker holds it


def test_dead_letters_are_listed_newest_first_with_their_failure(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    require_queue_wide_order(backend)
    backend.enqueue_many([make_job(), make_job(), make_job()])
    died: list[str] = []
    for number in range(3):
        job = take_one(backend)
        dead(backend, job, worker_id=WORKER, failure=failure(f"boom {number}"))
        died.append(job.id)
        clock.advance(1)

    listed = store.jobs("default", JobState.DEAD).views

    assert _ids(listed) == died[::-1]
    assert _ids(listed) == [letter.job.id for letter in backend.dead_letters("default")]
    assert listed[0].failure is not None
    assert listed[0].failure.message == "boom 2"


def test_a_retried_job_is_listed_with_its_runs_counted(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    backend.enqueue(make_job(max_attempts=3))
    job = take_one(backend)
    retry(backend, job, worker_id=WORKER, run_after=clock.time() + 30, failure=failure())

    [view] = store.jobs("default", JobState.DELAYED).views

    assert (view.job.id, view.job.attempt, view.due_at) == (job.id, 1, clock.time() + 30)


def test_listing_one_queue_shows_no_job_of_another(
    backend: Backend, store: JobInspection, make_job: MakeJob
) -> None:
    backend.enqueue_many([make_job(queue="other"), make_job(queue="default-2")])

    assert store.jobs("default", JobState.READY).views == []
    assert store.jobs("nothing-here", JobState.DELAYED) == store.jobs("default", JobState.DEAD)


# -- paging ----------------------------------------------------------------------------------


def _fill_ready(backend: Backend, make_job: MakeJob, clock: ManualClock, count: int) -> None:
    # Some share a due time, so that the cursor must tell ties apart.
    for number in range(count):
        backend.enqueue(make_job())
        if number % 3 == 0:
            clock.advance(1)


def _fill_delayed(backend: Backend, make_job: MakeJob, clock: ManualClock, count: int) -> None:
    now = clock.time()
    backend.enqueue_many([make_job(run_after=now + 100 + number // 3) for number in range(count)])


def _fill_in_flight(backend: Backend, make_job: MakeJob, clock: ManualClock, count: int) -> None:
    require(backend, "supports_leases")
    backend.enqueue_many([make_job() for _ in range(count)])
    for _ in range(count // 5 + 1):
        backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=5)
        clock.advance(1)


def _fill_dead(backend: Backend, make_job: MakeJob, clock: ManualClock, count: int) -> None:
    backend.enqueue_many([make_job() for _ in range(count)])
    for number in range(count):
        dead(backend, take_one(backend), worker_id=WORKER, failure=failure())
        if number % 3 == 0:
            clock.advance(1)


_FILL: dict[JobState, Callable[[Backend, MakeJob, ManualClock, int], None]] = {
    JobState.READY: _fill_ready,
    JobState.DELAYED: _fill_delayed,
    JobState.IN_FLIGHT: _fill_in_flight,
    JobState.DEAD: _fill_dead,
}


@pytest.mark.parametrize("state", list(JobState), ids=lambda state: state.value)
@pytest.mark.parametrize("count", [25, 20])
def test_pages_give_every_job_once_in_order_and_end_with_no_cursor(
    backend: Backend,
    store: JobInspection,
    make_job: MakeJob,
    clock: ManualClock,
    state: JobState,
    count: int,
) -> None:
    _FILL[state](backend, make_job, clock, count)
    whole = _ids(store.jobs("default", state, limit=1000).views)

    pages = _all_pages(store, state, limit=10)

    assert [len(page) for page in pages[:2]] == [10, 10]
    assert sum(pages, []) == whole
    assert len(whole) == len(set(whole)) == count


def test_a_page_cursor_goes_on_after_the_jobs_before_it_are_gone(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    _fill_delayed(backend, make_job, clock, 12)
    first = store.jobs("default", JobState.DELAYED, limit=5)
    assert first.cursor is not None
    store.cancel(_ids(first.views))

    rest = store.jobs("default", JobState.DELAYED, limit=100, cursor=first.cursor)

    assert len(rest.views) == 7
    assert rest.cursor is None


@pytest.mark.parametrize("cursor", ["not a cursor", "", "1e999", "::", "\x00"])
@pytest.mark.parametrize("state", list(JobState), ids=lambda state: state.value)
def test_a_cursor_the_store_did_not_make_is_refused(
    backend: Backend, store: JobInspection, make_job: MakeJob, state: JobState, cursor: str
) -> None:
    backend.enqueue(make_job())

    with pytest.raises(ValueError, match="cursor"):
        store.jobs("default", state, cursor=cursor)


@pytest.mark.parametrize("state", list(JobState), ids=lambda state: state.value)
def test_a_page_of_no_jobs_is_refused(
    backend: Backend, store: JobInspection, make_job: MakeJob, state: JobState
) -> None:
    backend.enqueue(make_job())

    with pytest.raises(ValueError, match="1 job or more"):
        store.jobs("default", state, limit=0)


# -- finding one -----------------------------------------------------------------------------


def _one_in(
    state: JobState, backend: Backend, make_job: MakeJob, clock: ManualClock, queue: str
) -> Job:
    """Store one job of ``queue`` in ``state``; return it."""
    if state is JobState.DELAYED:
        job = make_job(queue=queue, run_after=clock.time() + 600)
        backend.enqueue(job)
        return job
    job = make_job(queue=queue)
    backend.enqueue(job)
    if state is JobState.IN_FLIGHT:
        require(backend, "supports_leases")
        take_one(backend, queue)
    elif state is JobState.DEAD:
        dead(backend, take_one(backend, queue), worker_id=WORKER, failure=failure())
    return job


@pytest.mark.parametrize("state", list(JobState), ids=lambda state: state.value)
def test_a_job_is_found_by_id_in_any_queue_and_state(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock, state: JobState
) -> None:
    job = _one_in(state, backend, make_job, clock, "elsewhere")
    backend.enqueue(make_job())

    view = store.job(job.id)

    assert view is not None
    assert (view.job.id, view.job.queue, view.job.task, view.state) == (
        job.id,
        "elsewhere",
        job.task,
        state,
    )
    assert (view.raw, view.cancelled) == (None, False)
    assert (view.failure is not None) is (state is JobState.DEAD)


def test_an_unknown_id_is_not_found(backend: Backend, store: JobInspection) -> None:
    assert store.job("no-such-job") is None


@pytest.mark.parametrize("kind", sorted(POISON))
def test_poison_is_found_and_listed_with_its_raw_text(
    backend: Backend, store: JobInspection, make_job: MakeJob, kind: str
) -> None:
    backend.enqueue(make_job())
    inject(backend, "default", "poisoned-1", poison_payload(kind, "poisoned-1", "default"))

    view = store.job("poisoned-1")

    assert view is not None
    assert (view.job.id, view.state) == ("poisoned-1", JobState.READY)
    assert view.raw is not None
    assert "poisoned-1" in _ids(store.jobs("default", JobState.READY).views)


def test_dead_poison_is_found_by_its_letter_id(backend: Backend, store: JobInspection) -> None:
    inject(backend, "default", "poisoned-1", poison_payload("not-json", "poisoned-1", "default"))
    backend.reserve("default", worker_id=WORKER, timeout_s=0)
    [letter] = backend.dead_letters("default")

    view = store.job(letter.job.id)

    assert view is not None
    assert (view.state, view.raw) == (JobState.DEAD, letter.raw)
    assert _ids(store.jobs("default", JobState.DEAD).views) == [letter.job.id]


# -- cancelling ------------------------------------------------------------------------------


@pytest.mark.parametrize("delayed", [False, True], ids=["ready", "delayed"])
def test_a_cancelled_waiting_job_never_runs(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock, delayed: bool
) -> None:
    job = make_job(run_after=clock.time() + 60 if delayed else None)
    other = make_job()
    backend.enqueue_many([job, other])

    assert store.cancel([job.id]) == [job.id]

    assert store.job(job.id) is None
    clock.advance(60)
    assert drain_ids(backend) == [other.id]


@pytest.mark.parametrize("delayed", [False, True], ids=["ready", "delayed"])
def test_a_cancelled_job_reads_cancelled_in_its_result_record(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock, delayed: bool
) -> None:
    require(backend, "supports_results")
    job = make_job(result_ttl=600.0, run_after=clock.time() + 60 if delayed else None)
    backend.enqueue(job)

    store.cancel([job.id])

    record = backend.result(job.id)
    assert record is not None
    assert (record.status, record.task) == (JobStatus.CANCELLED, job.task)


def test_a_cancelled_id_counts_as_finished_for_enqueue(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    job = make_job(run_after=clock.time() + 60)
    backend.enqueue(job)
    store.cancel([job.id])

    assert backend.enqueue(job) == job.id

    assert _stored_nothing(backend, clock)


def test_cancel_frees_the_unique_key_of_the_job(
    backend: Backend, store: JobInspection, make_job: MakeJob
) -> None:
    job = make_job(unique_key="report")
    backend.enqueue(job)
    store.cancel([job.id])

    again = make_job(unique_key="report")

    assert backend.enqueue(again) == again.id


def test_cancel_of_unknown_ids_cancels_nothing(
    backend: Backend, store: JobInspection, make_job: MakeJob
) -> None:
    job = make_job()
    backend.enqueue(job)

    assert store.cancel(["no-such-job"]) == []
    assert store.cancel(["no-such-job", job.id, job.id]) == [job.id]
    assert store.cancel([job.id]) == []


def test_a_cancelled_job_in_flight_runs_to_its_end(
    backend: Backend, store: JobInspection, make_job: MakeJob
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job(result_ttl=600.0))
    running = take_one(backend)

    assert store.cancel([running.id]) == [running.id]

    view = store.job(running.id)
    assert view is not None
    assert (view.state, view.cancelled) == (JobState.IN_FLIGHT, True)
    assert [view.cancelled for view in store.jobs("default", JobState.IN_FLIGHT).views] == [True]
    assert ack(backend, running, worker_id=WORKER, result=5) is True
    if backend.supports_results:
        record = backend.result(running.id)
        assert record is not None
        assert (record.status, record.return_value) == (JobStatus.SUCCEEDED, 5)


def test_a_cancelled_job_in_flight_is_not_retried_after_it_fails(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job(max_attempts=5, result_ttl=600.0))
    running = take_one(backend)
    store.cancel([running.id])

    retry(backend, running, worker_id=WORKER, run_after=clock.time() + 1, failure=failure())

    if backend.supports_results:
        record = backend.result(running.id)
        assert record is not None
        assert (record.status, len(record.failures)) == (JobStatus.CANCELLED, 1)
    assert _stored_nothing(backend, clock)
    assert backend.counts("default").dead == 0


def test_a_cancelled_job_in_flight_is_not_put_back_when_its_lease_runs_out(
    backend: Backend,
    store: JobInspection,
    make_job: MakeJob,
    clock: ManualClock,
    settings: Settings,
) -> None:
    require(backend, "supports_leases")
    job = make_job(max_attempts=5)
    backend.enqueue(job)
    take_one(backend)
    store.cancel([job.id])
    clock.advance(settings.LEASE_SECONDS + 1)

    backend.recover()

    assert _stored_nothing(backend, clock)
    assert store.job(job.id) is None
    assert backend.enqueue(job) == job.id


def test_a_cancelled_job_in_flight_that_a_stopping_worker_returns_is_not_stored_again(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job())
    prefetched = take_one(backend)
    store.cancel([prefetched.id])

    assert release(backend, [prefetched], worker_id=WORKER) == []

    assert _stored_nothing(backend, clock)


def test_cancel_leaves_dead_letters_alone(
    backend: Backend, store: JobInspection, make_job: MakeJob
) -> None:
    backend.enqueue(make_job())
    job = take_one(backend)
    dead(backend, job, worker_id=WORKER, failure=failure())

    assert store.cancel([job.id]) == []

    assert _ids(store.jobs("default", JobState.DEAD).views) == [job.id]


# -- rescheduling ----------------------------------------------------------------------------


def test_a_delayed_job_rescheduled_to_now_is_reserved_at_once(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    job = make_job(run_after=clock.time() + 3600)
    backend.enqueue(job)

    assert store.reschedule([job.id], None) == [job.id]

    view = store.job(job.id)
    assert view is not None
    assert (view.state, view.due_at) == (JobState.READY, clock.time())
    assert take_one(backend).id == job.id


def test_a_ready_job_rescheduled_later_is_not_reserved_before_then(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    job = make_job()
    backend.enqueue(job)

    assert store.reschedule([job.id], clock.time() + 60) == [job.id]

    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []
    assert backend.counts("default").delayed == 1
    clock.advance(59)
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []
    clock.advance(1)
    assert take_one(backend).id == job.id


def test_a_delayed_job_rescheduled_earlier_is_due_then(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    job = make_job(run_after=clock.time() + 3600)
    backend.enqueue(job)

    store.reschedule([job.id], clock.time() + 10)

    assert _ids(store.jobs("default", JobState.DELAYED).views) == [job.id]
    clock.advance(10)
    reserved = take_one(backend)
    assert (reserved.id, reserved.attempt) == (job.id, 1)


def test_reschedule_leaves_jobs_in_flight_and_dead_letters_alone(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_leases")
    backend.enqueue_many([make_job(), make_job()])
    buried = take_one(backend)
    dead(backend, buried, worker_id=WORKER, failure=failure())
    running = take_one(backend)

    assert store.reschedule([running.id, buried.id, "no-such-job"], clock.time() + 60) == []

    assert _ids(store.jobs("default", JobState.IN_FLIGHT).views) == [running.id]
    assert _ids(store.jobs("default", JobState.DEAD).views) == [buried.id]
    assert ack(backend, running, worker_id=WORKER) is True


def test_reschedule_of_a_dead_letter_is_a_no_op(
    backend: Backend, store: JobInspection, make_job: MakeJob, clock: ManualClock
) -> None:
    backend.enqueue(make_job())
    buried = take_one(backend)
    dead(backend, buried, worker_id=WORKER, failure=failure())

    assert store.reschedule([buried.id], None) == []

    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []
    assert backend.counts("default").dead == 1
