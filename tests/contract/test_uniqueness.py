"""Contract: unique keys (``unique_key``, ``unique_for``)."""

from __future__ import annotations

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from tests.contract.conftest import MakeJob
from tests.contract.helpers import WORKER, failure, take_one
from tests.support.settling import ack, dead, retry


def test_a_taken_unique_key_returns_the_holders_id_and_stores_nothing(
    backend: Backend, make_job: MakeJob
) -> None:
    holder = make_job(unique_key="report:7")
    backend.enqueue(holder)

    assert backend.enqueue(make_job(unique_key="report:7")) == holder.id

    assert backend.counts("default").ready == 1


def test_enqueue_many_returns_the_holders_id_for_duplicates_in_one_batch(
    backend: Backend, make_job: MakeJob
) -> None:
    first, duplicate, other = (
        make_job(unique_key="a"),
        make_job(unique_key="a"),
        make_job(unique_key="b"),
    )

    assert backend.enqueue_many([first, duplicate, other]) == [first.id, first.id, other.id]

    assert backend.counts("default").ready == 2


def test_unique_key_is_held_while_the_job_runs(backend: Backend, make_job: MakeJob) -> None:
    holder = make_job(unique_key="sync")
    backend.enqueue(holder)
    take_one(backend)

    assert backend.enqueue(make_job(unique_key="sync")) == holder.id


def test_unique_key_is_free_again_once_the_job_is_acked(
    backend: Backend, make_job: MakeJob
) -> None:
    backend.enqueue(make_job(unique_key="sync"))
    ack(backend, take_one(backend), worker_id=WORKER)
    successor = make_job(unique_key="sync")

    assert backend.enqueue(successor) == successor.id


def test_unique_key_is_free_again_once_the_job_is_dead(backend: Backend, make_job: MakeJob) -> None:
    backend.enqueue(make_job(unique_key="sync"))
    dead(backend, take_one(backend), worker_id=WORKER, failure=failure())
    successor = make_job(unique_key="sync")

    assert backend.enqueue(successor) == successor.id


def test_unique_key_is_kept_across_a_retry(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    holder = make_job(unique_key="sync", max_attempts=2)
    backend.enqueue(holder)
    retry(backend, take_one(backend), worker_id=WORKER, run_after=clock.time(), failure=failure())

    assert backend.enqueue(make_job(unique_key="sync")) == holder.id


def test_unique_for_keeps_the_key_after_settle_until_it_expires(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    holder = make_job(unique_key="daily-mail", unique_for=3600.0)
    backend.enqueue(holder)
    ack(backend, take_one(backend), worker_id=WORKER)
    clock.advance(3599)

    assert backend.enqueue(make_job(unique_key="daily-mail")) == holder.id

    clock.advance(1)
    successor = make_job(unique_key="daily-mail")
    assert backend.enqueue(successor) == successor.id


def test_clear_frees_the_unique_keys_of_cleared_jobs(backend: Backend, make_job: MakeJob) -> None:
    backend.enqueue(make_job(unique_key="sync"))
    backend.clear("default")
    successor = make_job(unique_key="sync")

    assert backend.enqueue(successor) == successor.id
