"""The lease keeper: renewals after a slow call, leases that ran out before a job started, skew."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pytest

from dqueue import task
from dqueue.backends.memory import MemoryBackend
from dqueue.clock import ManualClock
from dqueue.job import Job, new_job_id
from dqueue.leases import LeaseKeeper
from dqueue.settings import Settings
from dqueue.worker import Worker

LEASE_S = 8.0
RAN: list[str] = []


@task(queue="leases")
def record(value: str) -> None:
    RAN.append(value)


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()


def _settings() -> Settings:
    return Settings(MIDDLEWARE=(), LEASE_SECONDS=LEASE_S)


def _job(clock: ManualClock, value: str) -> Job:
    return Job(id=new_job_id(), task=record.name, queue="leases", args=(value,),
               enqueued_at=clock.time(), max_attempts=3)  # fmt: skip


class SlowRenewals(MemoryBackend):
    """A memory store whose renewals take ``renew_takes_s`` of the manual clock."""

    renew_takes_s = 0.0

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        self.clock.sleep(self.renew_takes_s)
        return super().renew(job_ids, worker_id=worker_id)


def _keeper(backend: MemoryBackend, clock: ManualClock) -> LeaseKeeper:
    return LeaseKeeper(backend, worker_id="w", lease_s=LEASE_S, on_error=lambda _: None,
                       clock=clock)  # fmt: skip


def test_a_renewal_that_took_over_a_quarter_of_the_lease_is_followed_by_another_at_once(
    clock: ManualClock,
) -> None:
    backend = SlowRenewals.from_settings(_settings(), clock=clock)
    backend.enqueue(_job(clock, "a"))
    [job] = backend.reserve("leases", worker_id="w", timeout_s=0)
    keeper = _keeper(backend, clock)
    keeper.hold([job.id], clock.time())

    backend.renew_takes_s = LEASE_S / 4 + 0.5
    assert keeper.renew_now() == 0.0
    backend.renew_takes_s = 0.1
    assert keeper.renew_now() == pytest.approx(LEASE_S / 3)


def test_a_lease_surely_holds_for_a_lease_after_the_renewal_was_sent(clock: ManualClock) -> None:
    backend = SlowRenewals.from_settings(_settings(), clock=clock)
    backend.enqueue(_job(clock, "a"))
    [job] = backend.reserve("leases", worker_id="w", timeout_s=0)
    keeper = _keeper(backend, clock)
    keeper.hold([job.id], clock.time())
    clock.advance(LEASE_S - 1)
    backend.renew_takes_s = 0.5
    keeper.renew_now()  # sent at LEASE_S - 1: holds until 2 * LEASE_S - 1

    clock.advance(LEASE_S - 1)
    assert not keeper.expired(job.id)
    clock.advance(0.5)
    assert keeper.expired(job.id)


class LateReserve(MemoryBackend):
    """A memory store whose first reserve is answered a lease and a second late, after another
    worker recovered the lease that had run out meanwhile."""

    late = True

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        jobs = super().reserve(queue, worker_id=worker_id, timeout_s=timeout_s, limit=limit)
        if jobs and self.late:
            self.late = False
            self.clock.sleep(self.options.lease_s + 1)
            assert self.recover() == len(jobs)
        return jobs


def test_a_worker_never_starts_a_job_whose_lease_ran_out_before_the_reserve_came_back(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    backend = LateReserve.from_settings(_settings(), clock=clock)
    backend.enqueue(_job(clock, "once"))
    with caplog.at_level(logging.WARNING, logger="dqueue.worker"):
        Worker(_settings(), "leases", backend=backend, clock=clock, burst=True).run()
    assert RAN == ["once"]
    assert "may have run out" in caplog.text
    assert backend.counts("leases").total == 0


class SkewedStore(MemoryBackend):
    """A memory store that reports a clock of its own, ``skew_s`` off the test's."""

    skew_s = 0.0

    def store_time(self) -> float:
        return self.clock.time() + self.skew_s


@pytest.mark.parametrize("skew_s", [LEASE_S / 4 + 0.5, -(LEASE_S / 4 + 0.5)])
def test_a_worker_warns_at_start_when_its_clock_is_a_quarter_lease_off_the_stores(
    clock: ManualClock, caplog: pytest.LogCaptureFixture, skew_s: float
) -> None:
    backend = SkewedStore.from_settings(_settings(), clock=clock)
    backend.skew_s = skew_s
    with caplog.at_level(logging.WARNING, logger="dqueue.worker"):
        Worker(_settings(), "leases", backend=backend, clock=clock, burst=True).run()
    direction = "behind" if skew_s > 0 else "ahead of"
    assert f"clock is {abs(skew_s):.1f}s {direction} the store's" in caplog.text


@pytest.mark.parametrize("backend_class", [SkewedStore, MemoryBackend])
def test_a_small_skew_or_a_store_on_this_machine_gives_no_warning(
    clock: ManualClock, caplog: pytest.LogCaptureFixture, backend_class: Any
) -> None:
    backend = backend_class.from_settings(_settings(), clock=clock)
    backend.skew_s = LEASE_S / 4 - 0.5
    with caplog.at_level(logging.WARNING, logger="dqueue.worker"):
        assert _keeper(backend, clock).check_clock() == (
            None if backend_class is MemoryBackend else pytest.approx(LEASE_S / 4 - 0.5)
        )
    assert "clock" not in caplog.text
