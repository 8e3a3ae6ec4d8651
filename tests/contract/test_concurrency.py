"""Contract: one backend instance shared by several threads hands each job out once."""

from __future__ import annotations

import threading

from dqueue.backends.base import Backend, Outcome, OutcomeKind
from dqueue.job import Job
from tests.contract.conftest import MakeJob

THREADS = 4
JOBS = 300


def test_threads_reserving_at_once_get_each_job_exactly_once(
    backend: Backend, make_job: MakeJob
) -> None:
    jobs = [make_job() for _ in range(JOBS)]
    backend.enqueue_many(jobs)
    taken: list[list[str]] = [[] for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def consume(index: int) -> None:
        worker_id = f"thread-{index}"
        start.wait()
        while batch := backend.reserve("default", worker_id=worker_id, timeout_s=0, limit=3):
            taken[index].extend(job.id for job in batch)
            backend.settle(
                [Outcome(job=j, kind=OutcomeKind.ACK) for j in batch], worker_id=worker_id
            )

    threads = [threading.Thread(target=consume, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    everything = [job_id for ids in taken for job_id in ids]
    assert sorted(everything) == sorted(job.id for job in jobs)
    assert backend.counts("default").total == 0


def test_threads_enqueueing_at_once_lose_nothing(backend: Backend, make_job: MakeJob) -> None:
    batches = [[make_job() for _ in range(50)] for _ in range(THREADS)]
    start = threading.Barrier(THREADS)

    def produce(batch: list[Job]) -> None:
        start.wait()
        for job in batch:
            backend.enqueue(job)

    threads = [threading.Thread(target=produce, args=(batch,)) for batch in batches]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert backend.counts("default").ready == THREADS * 50
