"""Contract: result records of jobs that ask for them (``result_ttl``)."""

from __future__ import annotations

from typing import Any

import pytest

from dqueue.backends.base import Backend, JobStatus, Outcome, OutcomeKind
from dqueue.clock import ManualClock
from tests.contract.conftest import MakeJob
from tests.contract.helpers import WORKER, failure, require, take_one
from tests.support.settling import ack, dead, retry


@pytest.fixture(autouse=True)
def _results_only(backend: Backend) -> None:
    require(backend, "supports_results")


def test_an_enqueued_job_is_recorded_as_queued(backend: Backend, make_job: MakeJob) -> None:
    job = make_job(result_ttl=60.0)
    backend.enqueue(job)

    record = backend.result(job.id)

    assert record is not None
    assert (record.status, record.task, record.queue, record.enqueued_at) == (
        JobStatus.QUEUED,
        job.task,
        job.queue,
        job.enqueued_at,
    )


def test_a_reserved_job_is_recorded_as_running_by_its_worker(
    backend: Backend, make_job: MakeJob
) -> None:
    job = make_job(result_ttl=60.0)
    backend.enqueue(job)
    take_one(backend)

    record = backend.result(job.id)

    assert record is not None
    assert (record.status, record.attempt, record.worker_ids) == (JobStatus.RUNNING, 1, (WORKER,))


def test_an_acked_job_keeps_its_return_value(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    job = make_job(result_ttl=60.0)
    backend.enqueue(job)
    reserved = take_one(backend)
    clock.advance(2)

    backend.settle(
        [
            Outcome(
                job=reserved,
                kind=OutcomeKind.ACK,
                result={"sent": 3},
                started_at=clock.time() - 1,
                finished_at=clock.time(),
            )
        ],
        worker_id=WORKER,
    )

    record = backend.result(job.id)
    assert record is not None
    assert (record.status, record.return_value, record.finished_at) == (
        JobStatus.SUCCEEDED,
        {"sent": 3},
        clock.time(),
    )


def test_a_job_that_failed_then_died_keeps_every_failure(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    job = make_job(result_ttl=60.0, max_attempts=2)
    backend.enqueue(job)
    first_failure, last_failure = failure("first", attempt=1), failure("last", attempt=2)
    retry(
        backend, take_one(backend), worker_id=WORKER, run_after=clock.time(), failure=first_failure
    )
    retried = backend.result(job.id)

    dead(backend, take_one(backend), worker_id=WORKER, failure=last_failure)

    assert retried is not None
    assert retried.status is JobStatus.FAILED
    record = backend.result(job.id)
    assert record is not None
    assert (record.status, record.failures, record.attempt) == (
        JobStatus.DEAD,
        (first_failure, last_failure),
        2,
    )


def test_a_result_expires_after_its_ttl(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    job = make_job(result_ttl=60.0)
    backend.enqueue(job)
    ack(backend, take_one(backend), worker_id=WORKER, result=1)
    clock.advance(59)
    assert backend.result(job.id) is not None

    clock.advance(1)

    assert backend.result(job.id) is None


def test_a_job_without_result_ttl_leaves_no_record(backend: Backend, make_job: MakeJob) -> None:
    job = make_job()
    backend.enqueue(job)
    ack(backend, take_one(backend), worker_id=WORKER, result=1)

    assert backend.result(job.id) is None


def _arguments(backend: Backend, job_id: str) -> tuple[tuple[Any, ...], dict[str, Any]]:
    record = backend.result(job_id)
    assert record is not None
    return tuple(record.args), dict(record.kwargs)


_ARGS = (3, "ü", [1, {"a": None}])
_KWARGS = {"to": "ann@example.com", "options": {"retry": True, "n": 2.5}}


def test_a_record_carries_the_job_s_arguments_from_queued_to_succeeded(
    backend: Backend, make_job: MakeJob
) -> None:
    job = make_job(result_ttl=60.0, args=_ARGS, kwargs=_KWARGS)
    backend.enqueue(job)
    queued = _arguments(backend, job.id)
    reserved = take_one(backend)
    running = _arguments(backend, job.id)

    ack(backend, reserved, worker_id=WORKER, result="done")

    record = backend.result(job.id)
    assert record is not None
    assert record.status is JobStatus.SUCCEEDED
    assert queued == running == _arguments(backend, job.id) == (_ARGS, _KWARGS)


def test_a_record_of_a_dead_job_keeps_the_job_s_arguments(
    backend: Backend, make_job: MakeJob
) -> None:
    job = make_job(result_ttl=60.0, args=_ARGS, kwargs=_KWARGS)
    backend.enqueue(job)

    dead(backend, take_one(backend), worker_id=WORKER, failure=failure("gone"))

    record = backend.result(job.id)
    assert record is not None
    assert record.status is JobStatus.DEAD
    assert _arguments(backend, job.id) == (_ARGS, _KWARGS)
