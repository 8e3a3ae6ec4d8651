"""Contract: every store applies :mod:`dqueue.backends.lifecycle` alike (attempts, failures)."""

from __future__ import annotations

from dqueue.backends.base import Backend, JobStatus, Outcome, OutcomeKind
from dqueue.clock import ManualClock
from dqueue.failures import FailureKind
from dqueue.settings import Settings
from tests.contract.conftest import MakeJob
from tests.contract.helpers import WORKER, failure, require, take_one
from tests.support.settling import dead, retry


def test_a_dead_letter_after_n_attempts_shows_n(backend: Backend, make_job: MakeJob) -> None:
    job = make_job(max_attempts=3, result_ttl=60.0)
    backend.enqueue(job)
    for attempt in (1, 2):
        running = take_one(backend)
        assert running.attempt == attempt
        assert retry(backend, running, worker_id=WORKER, run_after=0.0, failure=failure())
    last = take_one(backend)
    assert dead(backend, last, worker_id=WORKER, failure=failure(attempt=3))

    [letter] = backend.dead_letters(job.queue)

    assert (letter.job.attempt, letter.failure.attempt) == (3, 3)
    if backend.supports_results:
        record = backend.result(job.id)
        assert record is not None
        assert record.attempt == 3


def test_a_job_whose_leases_keep_expiring_is_buried_after_n_attempts_showing_n(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    require(backend, "supports_leases")
    job = make_job(max_attempts=3)
    backend.enqueue(job)
    for attempt in (1, 2, 3):
        assert take_one(backend).attempt == attempt
        clock.advance(settings.LEASE_SECONDS + 1)
        assert backend.recover() == 1

    [letter] = backend.dead_letters(job.queue)

    assert letter.job.attempt == 3
    assert letter.failure.attempt == 3
    assert letter.failure.exception_type == FailureKind.LEASE_EXPIRED.value


def test_a_dead_outcome_without_a_failure_is_buried_as_dead(
    backend: Backend, make_job: MakeJob
) -> None:
    job = make_job()
    backend.enqueue(job)
    outcome = Outcome(job=take_one(backend), kind=OutcomeKind.DEAD)

    assert backend.settle([outcome], worker_id=WORKER) == []

    [letter] = backend.dead_letters(job.queue)
    assert letter.failure.exception_type == FailureKind.DEAD.value
    assert letter.failure.message == "moved to the dead letters"
    assert letter.failure.attempt == 1


def test_a_retry_without_a_failure_is_recorded_as_a_retry(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_results")
    job = make_job(max_attempts=2, result_ttl=60.0)
    backend.enqueue(job)
    outcome = Outcome(job=take_one(backend), kind=OutcomeKind.RETRY, run_after=clock.time())

    assert backend.settle([outcome], worker_id=WORKER) == []

    record = backend.result(job.id)
    assert record is not None
    assert record.status is JobStatus.FAILED
    assert [(f.exception_type, f.attempt) for f in record.failures] == [("dqueue.Retry", 1)]
