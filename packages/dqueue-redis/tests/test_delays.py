"""Precise, durable delays: waits end at the due time, earlier jobs wake waiters, no herd."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import redis

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.clock import ManualClock
from dqueue.job import Job

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]
WaitUntilBlocked = Callable[[int], None]
GENEROUS_S = 20.0


def test_a_delayed_job_is_handed_out_once_due_and_never_before(
    backend: Any, make_job: MakeJob
) -> None:
    due = time.time() + 0.25
    job = make_job(run_after=due)
    backend.enqueue(job)

    taken = backend.reserve("default", worker_id="w", timeout_s=GENEROUS_S)

    handed_out_at = time.time()
    assert [reserved.id for reserved in taken] == [job.id]
    assert handed_out_at >= due
    print(f"lateness {1000 * (handed_out_at - due):.2f} ms")


def test_enqueueing_an_earlier_job_wakes_a_worker_waiting_for_a_later_one(
    backend: Any, make_job: MakeJob, wait_until_blocked: WaitUntilBlocked
) -> None:
    later = make_job(run_after=time.time() + 3600)
    backend.enqueue(later)
    result: list[list[Job]] = []
    waiting = threading.Thread(
        target=lambda: result.append(
            backend.reserve("default", worker_id="w", timeout_s=GENEROUS_S)
        )
    )
    waiting.start()
    wait_until_blocked(1)  # the reserve waits for the hour-away job
    sooner = make_job(run_after=time.time() + 0.2)

    backend.enqueue(sooner)
    waiting.join(GENEROUS_S + 5)

    assert [job.id for job in result[0]] == [sooner.id]


def test_a_ready_job_wakes_one_waiting_worker_and_the_others_keep_waiting(
    backend: Any, make_job: MakeJob, wait_until_blocked: WaitUntilBlocked
) -> None:
    results: list[list[Job]] = []
    lock = threading.Lock()

    def reserve(index: int) -> None:
        # Long enough for all four to be waiting before the job comes, on a loaded machine.
        taken = backend.reserve("default", worker_id=f"w{index}", timeout_s=2.0)
        with lock:
            results.append(taken)

    threads = [threading.Thread(target=reserve, args=(index,)) for index in range(4)]
    for thread in threads:
        thread.start()
    wait_until_blocked(4)
    job = make_job()

    backend.enqueue(job)
    for thread in threads:
        thread.join(GENEROUS_S)

    assert sorted(len(taken) for taken in results) == [0, 0, 0, 1]


def test_one_waiter_holds_the_delay_timer_of_a_queue(
    backend: Any,
    make_job: MakeJob,
    raw: redis.Redis,
    redis_prefix: str,
    wait_until_blocked: WaitUntilBlocked,
) -> None:
    backend.enqueue(make_job(run_after=time.time() + 3600))
    threads = [
        threading.Thread(
            target=backend.reserve, args=("default",), kwargs={"worker_id": "w", "timeout_s": 2.0}
        )
        for _ in range(3)
    ]
    for thread in threads:
        thread.start()
    wait_until_blocked(3)

    timer = raw.get(f"{redis_prefix}:{{default}}:timer")

    for thread in threads:
        thread.join(GENEROUS_S)
    assert timer is not None
    due, _, waiter = timer.decode().partition("|")
    assert float(due) > time.time() + 3000
    assert waiter


def test_many_threads_get_each_due_job_exactly_once(backend: Any, make_job: MakeJob) -> None:
    due = time.time() + 0.3
    jobs = [make_job(run_after=due + index * 0.001) for index in range(300)]
    backend.enqueue_many(jobs)
    taken: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def consume(index: int) -> None:
        start.wait()
        deadline = time.monotonic() + GENEROUS_S
        while time.monotonic() < deadline:
            batch = backend.reserve("default", worker_id=f"t{index}", timeout_s=0.2, limit=4)
            if not batch and backend.counts("default").total == 0:
                return
            with lock:
                taken.extend(job.id for job in batch)
            backend.settle(
                [Outcome(job=job, kind=OutcomeKind.ACK) for job in batch], worker_id=f"t{index}"
            )

    threads = [threading.Thread(target=consume, args=(index,)) for index in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(GENEROUS_S + 5)

    assert sorted(taken) == sorted(job.id for job in jobs)


def test_delayed_jobs_survive_every_client_going_away(
    make_backend: MakeBackend, make_job: MakeJob
) -> None:
    producer = make_backend()
    job = make_job(run_after=time.time() + 0.2)
    producer.enqueue(job)
    producer.close()

    consumer = make_backend()
    taken = consumer.reserve("default", worker_id="w", timeout_s=GENEROUS_S)

    assert [reserved.id for reserved in taken] == [job.id]


def test_a_priority_job_promoted_from_the_delayed_set_goes_before_plain_ones(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock)
    urgent = make_job(run_after=clock.time() + 10, priority=5, enqueued_at=clock.time())
    plain = make_job(enqueued_at=clock.time())
    backend.enqueue_many([urgent, plain])
    clock.advance(10)

    taken = backend.reserve("default", worker_id="w", timeout_s=0, limit=2)

    assert [job.id for job in taken] == [urgent.id, plain.id]


def test_a_paused_queue_waits_until_the_pause_ends(backend: Any, make_job: MakeJob) -> None:
    job = make_job()
    backend.enqueue(job)
    until = time.time() + 0.3
    backend.pause("default", until)

    taken = backend.reserve("default", worker_id="w", timeout_s=GENEROUS_S)

    assert [reserved.id for reserved in taken] == [job.id]
    assert time.time() >= until


def test_resume_wakes_a_waiting_worker(
    backend: Any, make_job: MakeJob, wait_until_blocked: WaitUntilBlocked
) -> None:
    job = make_job()
    backend.enqueue(job)
    backend.pause("default", time.time() + 3600)
    result: list[list[Job]] = []
    waiting = threading.Thread(
        target=lambda: result.append(
            backend.reserve("default", worker_id="w", timeout_s=GENEROUS_S)
        )
    )
    waiting.start()
    wait_until_blocked(1)

    backend.resume("default")
    waiting.join(GENEROUS_S + 5)

    assert [reserved.id for reserved in result[0]] == [job.id]
