"""What each delivery mode promises beyond the contract, and bad data in the store."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
import redis

from dqueue.backends.base import JobStatus, Outcome, OutcomeKind
from dqueue.clock import ManualClock
from dqueue.job import Job
from dqueue_redis import RedisBackend, ReliableRedisBackend
from tests.support.settling import ack

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]


def test_at_most_once_a_job_whose_worker_died_never_comes_back(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(cls=RedisBackend, clock=clock)
    backend.enqueue(make_job(max_attempts=3))
    backend.reserve("default", worker_id="crashed", timeout_s=0)
    clock.advance(3601)

    assert backend.recover() == 0

    assert backend.reserve("default", worker_id="other", timeout_s=0) == []
    assert backend.counts("default").total == 0


def test_at_most_once_a_running_job_keeps_its_unique_key_past_the_lease_time(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(cls=RedisBackend, clock=clock)
    holder = make_job(unique_key="nightly", enqueued_at=clock.time())
    backend.enqueue(holder)
    backend.reserve("default", worker_id="slow", timeout_s=0)
    clock.advance(backend.options.lease_s * 2)
    backend.recover()

    assert backend.enqueue(make_job(unique_key="nightly", enqueued_at=clock.time())) == holder.id


def test_at_most_once_the_unique_key_of_a_dead_workers_job_is_freed_after_an_hour(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(cls=RedisBackend, clock=clock)
    backend.enqueue(make_job(unique_key="nightly", enqueued_at=clock.time()))
    backend.reserve("default", worker_id="crashed", timeout_s=0)
    clock.advance(3601)
    backend.recover()
    successor = make_job(unique_key="nightly", enqueued_at=clock.time())

    assert backend.enqueue(successor) == successor.id


def test_at_least_once_a_reserve_recovers_expired_leases_by_itself(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(cls=ReliableRedisBackend, clock=clock)
    job = make_job(max_attempts=3, enqueued_at=clock.time())
    backend.enqueue(job)
    backend.reserve("default", worker_id="stuck", timeout_s=0)
    clock.advance(backend.options.lease_s + 1)

    taken = backend.reserve("default", worker_id="other", timeout_s=0)

    assert [(again.id, again.attempt) for again in taken] == [(job.id, 2)]


def test_at_least_once_the_same_worker_number_on_two_hosts_cannot_share_a_job(
    make_backend: MakeBackend, make_job: MakeJob
) -> None:
    host_a = make_backend(cls=ReliableRedisBackend)
    host_b = make_backend(cls=ReliableRedisBackend)
    host_a.enqueue_many([make_job(), make_job()])

    mine = host_a.reserve("default", worker_id="host-a:4242:default/1", timeout_s=0)
    theirs = host_b.reserve("default", worker_id="host-b:4242:default/1", timeout_s=0)

    assert {job.id for job in mine}.isdisjoint(job.id for job in theirs)
    assert host_b.settle(
        [Outcome(job=mine[0], kind=OutcomeKind.ACK)], worker_id="host-b:4242:default/1"
    ) == [mine[0].id]


def test_a_lost_lease_recovered_in_flight_records_why(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(cls=ReliableRedisBackend, clock=clock)
    job = make_job(max_attempts=2, result_ttl=600.0, enqueued_at=clock.time())
    backend.enqueue(job)
    backend.reserve("default", worker_id="gone", timeout_s=0)
    clock.advance(backend.options.lease_s + 1)

    backend.recover()

    record = backend.result(job.id)
    assert record is not None
    assert record.status is JobStatus.FAILED
    assert [failure.exception_type for failure in record.failures] == ["dqueue.LeaseExpired"]
    assert "gone" in record.failures[0].message


def test_a_payload_that_is_not_a_job_goes_to_the_dead_letters_and_reserve_carries_on(
    backend: Any, make_job: MakeJob, raw: redis.Redis, redis_prefix: str
) -> None:
    good = make_job()
    backend.enqueue(good)
    base = f"{redis_prefix}:{{default}}:"
    raw.hset(base + "jobs", "broken", b"{not json")
    raw.lpush(base + "ready", "broken")

    taken = backend.reserve("default", worker_id="w", timeout_s=0, limit=5)

    assert [job.id for job in taken] == [good.id]
    letters = backend.dead_letters("default")
    assert len(letters) == 1
    assert letters[0].raw == "{not json"
    assert "not JSON" in letters[0].failure.message
    assert not raw.hexists(base + "jobs", "broken")


def test_a_dead_letter_that_is_not_a_job_is_not_retried(
    backend: Any, raw: redis.Redis, redis_prefix: str
) -> None:
    base = f"{redis_prefix}:{{default}}:"
    raw.hset(base + "jobs", "broken", b'{"v": 1}')
    raw.lpush(base + "ready", "broken")
    backend.reserve("default", worker_id="w", timeout_s=0)

    assert backend.retry_dead("default") == 0

    assert backend.counts("default").dead == 1


def test_results_are_found_whatever_the_queue(backend: Any, make_job: MakeJob) -> None:
    job = make_job(queue="reports", result_ttl=60.0)
    backend.enqueue_many([make_job(), job])
    taken = backend.reserve("reports", worker_id="w", timeout_s=0)

    ack(backend, taken[0], worker_id="w", result={"rows": 12})

    record = backend.result(job.id)
    assert record is not None
    assert (record.queue, record.status, record.return_value) == (
        "reports",
        JobStatus.SUCCEEDED,
        {"rows": 12},
    )


def test_lateness_samples_are_capped(backend: Any, make_job: MakeJob) -> None:
    jobs = [make_job() for _ in range(1100)]
    backend.enqueue_many(jobs)
    taken = backend.reserve("default", worker_id="w", timeout_s=0, limit=1100)

    backend.settle(
        [Outcome(job=job, kind=OutcomeKind.ACK, started_at=job.due_at + 0.001) for job in taken],
        worker_id="w",
    )

    assert len(backend.counts("default").recent_lateness) == 1000


def test_a_forked_child_uses_the_backend_with_its_own_connections(
    backend: Any, make_job: MakeJob
) -> None:
    backend.ping()  # the parent's pool holds a connection now
    job = make_job()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child reports through its exit code
        try:
            backend.enqueue(job)
            os._exit(0)
        except BaseException:
            os._exit(1)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert [taken.id for taken in backend.reserve("default", worker_id="w", timeout_s=0)] == [
        job.id
    ]


def test_close_drops_every_connection_and_the_backend_reconnects_when_used_again(
    backend: Any, make_job: MakeJob, raw: redis.Redis
) -> None:
    before = len(raw.client_list())
    backend.enqueue(make_job())
    backend.reserve("default", worker_id="w", timeout_s=0.01)  # waits on a second connection
    assert len(raw.client_list()) > before

    backend.close()

    deadline = time.monotonic() + 10
    while len(raw.client_list()) > before:  # the server notices a closed socket on its next turn
        assert time.monotonic() < deadline, "the backend's connections stayed open"
        time.sleep(0.01)
    backend.enqueue(job := make_job())
    assert [taken.id for taken in backend.reserve("default", worker_id="w", timeout_s=0)] == [
        job.id
    ]


def test_a_thread_that_ends_gives_its_connection_back_to_the_pool(
    backend: Any, make_job: MakeJob, raw: redis.Redis
) -> None:
    backend.ping()
    before = len(raw.client_list())

    for _ in range(5):
        worker = threading.Thread(target=backend.enqueue, args=(make_job(),))
        worker.start()
        worker.join()

    assert len(raw.client_list()) == before  # each thread took the connection the last gave back
    assert backend.counts("default").ready == 5


@pytest.mark.parametrize("limit", [1, 7])
def test_reserve_never_hands_out_more_than_its_limit_across_priorities(
    backend: Any, make_job: MakeJob, limit: int
) -> None:
    backend.enqueue_many([make_job(priority=priority % 3 - 1) for priority in range(12)])

    taken = backend.reserve("default", worker_id="w", timeout_s=0, limit=limit)

    assert len(taken) == limit
    assert [job.priority for job in taken] == sorted((job.priority for job in taken), reverse=True)


def test_clear_removes_waiting_jobs_of_every_priority(backend: Any, make_job: MakeJob) -> None:
    backend.enqueue_many(
        [make_job(priority=5), make_job(priority=-2), make_job(run_after=time.time() + 60)]
    )

    assert backend.clear("default") == 3

    assert backend.reserve("default", worker_id="w", timeout_s=0, limit=5) == []


@pytest.mark.parametrize("recovery", ["recover", "reserve"])
def test_a_job_dead_of_an_expired_lease_keeps_its_id_taken(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock, recovery: str
) -> None:
    backend = make_backend(cls=ReliableRedisBackend, clock=clock, ID_RETENTION=120.0)
    job = make_job(max_attempts=1)
    backend.enqueue(job)
    backend.reserve("default", worker_id="crashed", timeout_s=0)
    clock.advance(backend.options.lease_s + 1)
    if recovery == "recover":
        assert backend.recover() == 1
    else:  # a reserve deals with expired leases first
        assert backend.reserve("default", worker_id="w", timeout_s=0) == []
    assert backend.counts("default").dead == 1

    assert backend.enqueue(job) == job.id

    assert backend.counts("default").ready == 0
    clock.advance(121)
    backend.enqueue(job)
    assert backend.counts("default").ready == 1
