"""Contract: what ack, retry, dead and release do to a reserved job."""

from __future__ import annotations

from dqueue.backends.base import Backend, Outcome, OutcomeKind
from dqueue.backends.lateness import LatenessSample
from dqueue.clock import ManualClock
from tests.contract.conftest import MakeJob
from tests.contract.helpers import WORKER, failure, require, require_queue_wide_order, take_one
from tests.support.settling import ack, dead, release, retry


def test_each_reserve_counts_an_attempt(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend.enqueue(make_job(max_attempts=3))
    first = take_one(backend)
    retry(backend, first, worker_id=WORKER, run_after=clock.time(), failure=failure())

    second = take_one(backend)

    assert (first.attempt, second.attempt) == (1, 2)


def test_ack_removes_the_job(backend: Backend, make_job: MakeJob) -> None:
    backend.enqueue(make_job())
    job = take_one(backend)

    assert ack(backend, job, worker_id=WORKER) is True

    assert backend.counts("default").total == 0
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []


def test_retry_makes_the_job_due_again_at_run_after(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_delay")
    backend.enqueue(make_job(max_attempts=2))
    job = take_one(backend)

    assert retry(backend, job, worker_id=WORKER, run_after=clock.time() + 30, failure=failure())

    assert backend.counts("default").delayed == 1
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []
    clock.advance(30)
    again = take_one(backend)
    assert (again.id, again.attempt, again.run_after) == (job.id, 2, clock.time())


def test_dead_moves_the_job_to_the_dead_letters_with_its_failure(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend.enqueue(make_job())
    job = take_one(backend)
    why = failure("no such user", at=clock.time())

    assert dead(backend, job, worker_id=WORKER, failure=why) is True

    letters = backend.dead_letters("default")
    assert [(letter.job.id, letter.failure) for letter in letters] == [(job.id, why)]
    assert letters[0].raw is None
    assert backend.counts("default").total == 0
    assert backend.counts("default").dead == 1


def test_release_returns_the_job_without_counting_the_attempt(
    backend: Backend, make_job: MakeJob
) -> None:
    require_queue_wide_order(backend)
    backend.enqueue_many([make_job(), make_job()])
    jobs = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)

    assert release(backend, jobs, worker_id=WORKER) == []

    again = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)
    assert [(job.id, job.attempt) for job in again] == [(job.id, 1) for job in jobs]


def test_settle_applies_a_batch_of_different_outcomes(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(max_attempts=2) for _ in range(3)])
    done, failed, broken = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=3)

    lost = backend.settle(
        [
            Outcome(job=done, kind=OutcomeKind.ACK),
            Outcome(job=failed, kind=OutcomeKind.RETRY, run_after=clock.time(), failure=failure()),
            Outcome(job=broken, kind=OutcomeKind.DEAD, failure=failure("broken")),
        ],
        worker_id=WORKER,
    )

    assert lost == []
    counts = backend.counts("default")
    assert (counts.ready, counts.in_flight, counts.dead) == (1, 0, 1)
    assert take_one(backend).id == failed.id


def test_settle_records_the_lateness_of_runs_and_when_they_started_newest_last(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require_queue_wide_order(backend)
    backend.enqueue_many([make_job(), make_job()])
    first, second = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)

    backend.settle(
        [
            Outcome(job=first, kind=OutcomeKind.ACK, started_at=first.due_at + 0.5),
            Outcome(job=second, kind=OutcomeKind.ACK, started_at=second.due_at + 0.25),
        ],
        worker_id=WORKER,
    )

    assert backend.counts("default").recent_lateness == (
        LatenessSample(at=first.due_at + 0.5, seconds=0.5),
        LatenessSample(at=second.due_at + 0.25, seconds=0.25),
    )


def test_a_settle_without_start_time_records_no_lateness(
    backend: Backend, make_job: MakeJob
) -> None:
    backend.enqueue(make_job())

    release(backend, [take_one(backend)], worker_id=WORKER)

    assert backend.counts("default").recent_lateness == ()
