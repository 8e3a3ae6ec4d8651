"""Contract: an enqueue is idempotent by job id, also after the job ran (``ID_RETENTION``).

A producer that does not know whether its enqueue was stored (a timeout, a relay killed between
sending and deleting its row) sends the same job again: the store returns the id and stores
nothing while the job waits or runs, and for ``DQUEUE_ID_RETENTION`` seconds after it finished.
"""

from __future__ import annotations

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from tests.contract.conftest import MakeBackend, MakeJob
from tests.contract.helpers import WORKER, failure, take_one
from tests.support.settling import ack, dead


def _stored_nothing(backend: Backend) -> bool:
    counts = backend.counts("default")
    return counts.ready == counts.delayed == 0 and not backend.reserve(
        "default", worker_id=WORKER, timeout_s=0
    )


def test_an_id_that_is_waiting_is_not_stored_again(backend: Backend, make_job: MakeJob) -> None:
    job = make_job()
    backend.enqueue(job)

    assert backend.enqueue(job) == job.id

    assert backend.counts("default").ready == 1


def test_an_id_that_is_running_is_not_stored_again(backend: Backend, make_job: MakeJob) -> None:
    job = make_job()
    backend.enqueue(job)
    take_one(backend)

    assert backend.enqueue(job) == job.id

    assert _stored_nothing(backend)


def test_an_id_whose_job_was_acked_is_not_stored_again(backend: Backend, make_job: MakeJob) -> None:
    job = make_job()
    backend.enqueue(job)
    ack(backend, take_one(backend), worker_id=WORKER)

    assert backend.enqueue(job) == job.id

    assert _stored_nothing(backend)


def test_an_id_whose_job_is_dead_is_not_stored_again(backend: Backend, make_job: MakeJob) -> None:
    job = make_job()
    backend.enqueue(job)
    dead(backend, take_one(backend), worker_id=WORKER, failure=failure())

    assert backend.enqueue(job) == job.id

    assert _stored_nothing(backend)


def test_a_finished_id_in_a_batch_is_returned_and_the_others_are_stored(
    backend: Backend, make_job: MakeJob
) -> None:
    done, fresh = make_job(), make_job()
    backend.enqueue(done)
    ack(backend, take_one(backend), worker_id=WORKER)

    assert backend.enqueue_many([done, fresh]) == [done.id, fresh.id]

    assert take_one(backend).id == fresh.id
    assert _stored_nothing(backend)


def test_a_finished_id_with_a_result_or_unique_key_is_not_stored_again(
    backend: Backend, make_job: MakeJob
) -> None:
    job = make_job(result_ttl=60.0, unique_key="report:1")
    backend.enqueue(job)
    ack(backend, take_one(backend), worker_id=WORKER)

    assert backend.enqueue(job) == job.id

    assert _stored_nothing(backend)


def test_an_id_is_stored_again_once_the_retention_window_has_passed(
    make_backend: MakeBackend, clock: ManualClock, make_job: MakeJob
) -> None:
    backend = make_backend(clock=clock, ID_RETENTION=120.0)
    job = make_job()
    backend.enqueue(job)
    ack(backend, take_one(backend), worker_id=WORKER)
    clock.advance(119.0)
    assert backend.enqueue(job) == job.id
    assert _stored_nothing(backend)

    clock.advance(2.0)

    assert backend.enqueue(job) == job.id
    assert take_one(backend).id == job.id


def test_an_id_retention_of_zero_forgets_finished_ids(
    make_backend: MakeBackend, clock: ManualClock, make_job: MakeJob
) -> None:
    backend = make_backend(clock=clock, ID_RETENTION=0.0)
    job = make_job()
    backend.enqueue(job)
    ack(backend, take_one(backend), worker_id=WORKER)

    assert backend.enqueue(job) == job.id

    assert take_one(backend).id == job.id
