"""Contract: leases of at-least-once backends (lost leases, renew, recover)."""

from __future__ import annotations

import pytest

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from dqueue.failures import FailureKind
from dqueue.settings import Settings
from tests.contract.conftest import MakeJob
from tests.contract.helpers import OTHER_WORKER, WORKER, require, take_one
from tests.support.settling import ack, release


@pytest.fixture(autouse=True)
def _leases_only(backend: Backend) -> None:
    require(backend, "supports_leases")


def test_reserved_job_is_in_flight_until_settled(backend: Backend, make_job: MakeJob) -> None:
    backend.enqueue(make_job())

    take_one(backend)

    counts = backend.counts("default")
    assert (counts.ready, counts.in_flight) == (0, 1)


def test_expired_lease_is_recovered_with_the_attempt_counted(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    backend.enqueue(make_job(max_attempts=3))
    take_one(backend)
    clock.advance(settings.LEASE_SECONDS + 1)

    assert backend.recover() == 1

    again = take_one(backend, worker_id=OTHER_WORKER)
    assert again.attempt == 2


def test_recover_leaves_leases_that_have_not_expired(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    backend.enqueue(make_job())
    take_one(backend)
    clock.advance(settings.LEASE_SECONDS - 1)

    assert backend.recover() == 0

    assert backend.counts("default").in_flight == 1


def test_recover_dead_letters_a_job_that_used_its_last_attempt(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    job = make_job(max_attempts=1)
    backend.enqueue(job)
    take_one(backend)
    clock.advance(settings.LEASE_SECONDS + 1)

    assert backend.recover() == 1

    letters = backend.dead_letters("default")
    assert [letter.job.id for letter in letters] == [job.id]
    assert letters[0].failure.exception_type == FailureKind.LEASE_EXPIRED.value
    assert backend.counts("default").total == 0


def test_a_second_recover_finds_nothing_more(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    backend.enqueue_many([make_job(max_attempts=2), make_job(max_attempts=2)])
    backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)
    clock.advance(settings.LEASE_SECONDS + 1)

    assert [backend.recover(), backend.recover()] == [2, 0]


def test_a_worker_whose_lease_expired_cannot_settle(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    backend.enqueue(make_job(max_attempts=3))
    job = take_one(backend)
    clock.advance(settings.LEASE_SECONDS + 1)
    backend.recover()

    assert ack(backend, job, worker_id=WORKER) is False

    assert backend.counts("default").ready == 1


def test_a_worker_cannot_settle_a_job_another_worker_reserved_again(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    backend.enqueue(make_job(max_attempts=3))
    stale = take_one(backend)
    clock.advance(settings.LEASE_SECONDS + 1)
    backend.recover()
    current = take_one(backend, worker_id=OTHER_WORKER)

    assert release(backend, [stale], worker_id=WORKER) == [stale.id]

    assert backend.counts("default").in_flight == 1
    assert ack(backend, current, worker_id=OTHER_WORKER) is True
    assert backend.counts("default").total == 0


def test_a_worker_cannot_settle_a_job_leased_to_another(
    backend: Backend, make_job: MakeJob
) -> None:
    backend.enqueue(make_job())
    job = take_one(backend)

    assert ack(backend, job, worker_id=OTHER_WORKER) is False

    assert backend.counts("default").in_flight == 1


def test_the_same_worker_cannot_settle_an_older_attempt(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    backend.enqueue(make_job(max_attempts=3))
    first = take_one(backend)
    clock.advance(settings.LEASE_SECONDS + 1)
    backend.recover()
    take_one(backend)

    assert ack(backend, first, worker_id=WORKER) is False

    assert backend.counts("default").in_flight == 1


def test_renew_keeps_a_lease_alive_past_its_original_deadline(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    backend.enqueue(make_job())
    job = take_one(backend)
    clock.advance(settings.LEASE_SECONDS - 1)

    assert backend.renew([job.id], worker_id=WORKER) == []

    clock.advance(settings.LEASE_SECONDS - 1)
    assert backend.recover() == 0
    assert ack(backend, job, worker_id=WORKER) is True


def test_renew_reports_leases_already_lost(
    backend: Backend, make_job: MakeJob, clock: ManualClock, settings: Settings
) -> None:
    backend.enqueue_many([make_job(max_attempts=2), make_job(max_attempts=2)])
    kept, lost = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)
    ack(backend, kept, worker_id=WORKER)

    assert backend.renew([lost.id], worker_id=OTHER_WORKER) == [lost.id]
    assert backend.renew([kept.id, lost.id], worker_id=WORKER) == [kept.id]
