"""The server's clock: a worker compares its own with it, and leases count from the server."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest

from dqueue.clock import SYSTEM_CLOCK
from dqueue.job import Job
from dqueue.leases import LeaseKeeper
from dqueue.settings import Settings
from dqueue_redis import ReliableRedisBackend
from tests.support.redis_server import RedisServer

T = TypeVar("T")
MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]

LEASE_S = 6.0


class OffsetClock:
    """This machine's clock, ``offset_s`` off: a worker on a machine whose clock is wrong."""

    def __init__(self, offset_s: float) -> None:
        self.offset_s = offset_s

    def time(self) -> float:
        return time.time() + self.offset_s

    def sleep(self, seconds: float) -> None:
        SYSTEM_CLOCK.sleep(seconds)


def test_store_time_is_the_servers_clock(make_backend: MakeBackend) -> None:
    before = time.time()
    server_now = make_backend().store_time()
    assert server_now is not None
    assert before - 1 < server_now < time.time() + 1  # one machine: the same clock


@pytest.mark.parametrize("offset_s", [8.0, -8.0])
def test_a_worker_whose_clock_is_off_the_servers_warns_at_start(
    make_backend: MakeBackend, caplog: pytest.LogCaptureFixture, offset_s: float
) -> None:
    clock = OffsetClock(offset_s)
    keeper = LeaseKeeper(make_backend(clock=clock), worker_id="w", lease_s=LEASE_S,
                         on_error=lambda _: None, clock=clock)  # fmt: skip
    with caplog.at_level(logging.WARNING, logger="dqueue.worker"):
        skew_s = keeper.check_clock()
    assert skew_s == pytest.approx(-offset_s, abs=1.0)
    direction = "ahead of" if offset_s > 0 else "behind"
    assert f"s {direction} the store's" in caplog.text


STALL_S = 1.5  # longer than the lease below: a deadline counted from the call has run out


@pytest.fixture
def stalled_server(redis_kind: str) -> Iterator[RedisServer]:
    """A private server, to be stopped (SIGSTOP) for ``STALL_S`` while a call waits on it."""
    with RedisServer(redis_kind) as server:
        yield server


def _answered_after_a_stall(server: RedisServer, call: Callable[[], T]) -> T:
    """Send ``call`` to the stopped server, resume it ``STALL_S`` later, return the answer."""
    assert server.process is not None
    answers: list[T] = []
    server.process.send_signal(signal.SIGSTOP)
    try:
        waiting = threading.Thread(target=lambda: answers.append(call()))
        waiting.start()
        time.sleep(STALL_S)  # the stall itself
    finally:
        server.process.send_signal(signal.SIGCONT)
    waiting.join(60)
    assert len(answers) == 1
    return answers[0]


def _two_workers(server: RedisServer) -> tuple[ReliableRedisBackend, ReliableRedisBackend]:
    settings = Settings().replace(REDIS_URL=server.url, REDIS_PREFIX="stall", LEASE_SECONDS=1.0,
                                  REDIS_SOCKET_TIMEOUT=30.0)  # fmt: skip
    return (ReliableRedisBackend.from_settings(settings),
            ReliableRedisBackend.from_settings(settings))  # fmt: skip


def test_a_renewal_the_server_applies_late_counts_the_lease_from_then(
    stalled_server: RedisServer, make_job: MakeJob
) -> None:
    holder, other = _two_workers(stalled_server)
    job = make_job()
    holder.enqueue(job)
    assert holder.reserve("default", worker_id="holder", timeout_s=0) != []

    def renew() -> list[str]:
        return holder.renew([job.id], worker_id="holder")

    lost = _answered_after_a_stall(stalled_server, renew)

    assert lost == []
    assert other.recover() == 0  # the other worker finds the lease alive
    assert other.reserve("default", worker_id="other", timeout_s=0) == []


def test_a_reserve_the_server_answers_late_hands_out_a_lease_that_counts_from_then(
    stalled_server: RedisServer, make_job: MakeJob
) -> None:
    holder, other = _two_workers(stalled_server)
    job = make_job()
    holder.enqueue(job)
    holder.store_time()  # as a worker does at start

    taken = _answered_after_a_stall(
        stalled_server, lambda: holder.reserve("default", worker_id="holder", timeout_s=0)
    )

    assert [j.id for j in taken] == [job.id]
    assert other.recover() == 0
    assert other.reserve("default", worker_id="other", timeout_s=0) == []
