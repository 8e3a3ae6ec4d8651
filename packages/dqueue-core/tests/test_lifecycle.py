"""What each step of a job's life means (dqueue.backends.lifecycle): pure functions."""

from __future__ import annotations

from dqueue.backends import lifecycle
from dqueue.backends.base import JobStatus, Outcome, OutcomeKind
from dqueue.failures import FailureKind
from dqueue.job import Job, JobFailure

NOW = 1000.0


def _job(**changes: object) -> Job:
    base = Job(id="j1", task="t", enqueued_at=900.0, attempt=2, max_attempts=3, result_ttl=60.0)
    return base.with_changes(**changes) if changes else base


def _failure(attempt: int = 2) -> JobFailure:
    return JobFailure(exception_type="builtins.ValueError", message="boom", attempt=attempt)


def test_an_ack_succeeds_frees_the_unique_key_and_keeps_the_return_value() -> None:
    step = lifecycle.settled(Outcome(job=_job(), kind=OutcomeKind.ACK, result=7), NOW)

    assert (step.status, step.return_value, step.finished_at) == (JobStatus.SUCCEEDED, 7, NOW)
    assert step.finishes
    assert not step.stores_again


def test_a_retry_stores_the_job_again_due_at_its_run_after() -> None:
    outcome = Outcome(job=_job(), kind=OutcomeKind.RETRY, run_after=NOW + 5, failure=_failure())

    step = lifecycle.settled(outcome, NOW)

    assert step.stores_again
    assert (step.job.due_at, step.job.attempt) == (NOW + 5, 2)
    assert step.failure == _failure()
    assert not step.finishes


def test_a_release_stores_the_job_again_with_the_run_not_counted() -> None:
    step = lifecycle.settled(Outcome(job=_job(), kind=OutcomeKind.RELEASE), NOW)

    assert (step.status, step.job.attempt, step.failure) == (JobStatus.QUEUED, 1, None)


def test_outcomes_without_a_failure_get_the_failure_kind_of_their_step() -> None:
    dead = lifecycle.settled(Outcome(job=_job(), kind=OutcomeKind.DEAD), NOW)
    retry = lifecycle.settled(Outcome(job=_job(), kind=OutcomeKind.RETRY, run_after=NOW), NOW)

    assert dead.buries
    assert dead.failure is not None
    assert (dead.failure.exception_type, dead.failure.attempt) == (FailureKind.DEAD.value, 2)
    assert retry.failure is not None
    assert retry.failure.exception_type == FailureKind.RETRY.value


def test_an_expired_lease_with_attempts_left_runs_again_at_once() -> None:
    step = lifecycle.lease_expired(_job(run_after=950.0), "host:1:w", NOW)

    assert (step.status, step.job.run_after, step.job.attempt) == (JobStatus.FAILED, None, 2)
    assert step.failure is not None
    assert step.failure.exception_type == FailureKind.LEASE_EXPIRED.value
    assert "host:1:w" in step.failure.message


def test_an_expired_lease_of_the_last_attempt_buries_the_job() -> None:
    step = lifecycle.lease_expired(_job(attempt=3), "host:1:w", NOW)

    assert step.buries
    assert step.failure is not None
    assert step.failure.attempt == 3


def test_a_record_accumulates_failures_and_workers_and_keeps_the_start() -> None:
    job = _job(attempt=1)
    record = lifecycle.next_record(None, lifecycle.enqueued(job))
    record = lifecycle.next_record(record, lifecycle.started(job, "w1", 910.0))
    retried = Outcome(job=job, kind=OutcomeKind.RETRY, run_after=NOW, failure=_failure(1))
    record = lifecycle.next_record(record, lifecycle.settled(retried, 920.0))
    again = job.with_changes(attempt=2)
    record = lifecycle.next_record(record, lifecycle.started(again, "w2", 930.0))
    record = lifecycle.next_record(
        record, lifecycle.settled(Outcome(job=again, kind=OutcomeKind.ACK, result="ok"), 940.0)
    )

    assert (record.status, record.attempt, record.return_value) == (JobStatus.SUCCEEDED, 2, "ok")
    assert record.worker_ids == ("w1", "w2")
    assert record.failures == (_failure(1),)
    assert (record.started_at, record.finished_at) == (930.0, 940.0)


def test_a_revived_dead_letter_is_due_when_revived_with_fresh_attempts() -> None:
    job = lifecycle.revived(_job(attempt=3, run_after=2000.0), 5000.0)

    assert (job.attempt, job.run_after) == (0, 5000.0)


def test_a_cancelled_waiting_job_finishes_as_cancelled() -> None:
    step = lifecycle.cancelled(_job(), NOW)

    assert (step.status, step.finished_at) == (JobStatus.CANCELLED, NOW)
    assert step.finishes
    assert not step.stores_again


def test_a_retry_of_a_job_cancelled_in_flight_finishes_it_with_its_failure() -> None:
    outcome = Outcome(job=_job(), kind=OutcomeKind.RETRY, run_after=NOW + 5, failure=_failure())

    step = lifecycle.settled(outcome, NOW, cancelled=True)

    assert (step.status, step.failure, step.finished_at) == (JobStatus.CANCELLED, _failure(), NOW)
    assert step.finishes
    assert not step.stores_again


def test_a_release_of_a_job_cancelled_in_flight_finishes_it() -> None:
    step = lifecycle.settled(Outcome(job=_job(), kind=OutcomeKind.RELEASE), NOW, cancelled=True)

    assert (step.status, step.stores_again) == (JobStatus.CANCELLED, False)


def test_an_ack_or_a_burial_of_a_job_cancelled_in_flight_stands() -> None:
    ack = lifecycle.settled(Outcome(job=_job(), kind=OutcomeKind.ACK), NOW, cancelled=True)
    dead = lifecycle.settled(Outcome(job=_job(), kind=OutcomeKind.DEAD), NOW, cancelled=True)

    assert (ack.status, dead.status) == (JobStatus.SUCCEEDED, JobStatus.DEAD)


def test_an_expired_lease_of_a_job_cancelled_in_flight_does_not_run_it_again() -> None:
    step = lifecycle.lease_expired(_job(attempt=1), "w1", NOW, cancelled=True)

    assert (step.status, step.stores_again) == (JobStatus.CANCELLED, False)
    assert step.failure is not None
    assert step.failure.exception_type == FailureKind.LEASE_EXPIRED
