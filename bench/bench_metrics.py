"""What Prometheus metrics cost a worker per job.

    python bench/bench_metrics.py [--jobs 20000] [--repeat 5]

1. The metrics calls a worker makes for one job (started, finished, settled), in a loop:
   the added work per job, without noise from the store.
2. A burst worker draining ``--jobs`` no-op jobs from the memory backend, with and without
   metrics, interleaved, best of ``--repeat``: the end-to-end difference.
"""

from __future__ import annotations

import argparse
import time
import timeit

from dqueue import task
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.memory import MemoryBackend
from dqueue.job import Job, new_job_id
from dqueue.metrics import WorkerMetrics
from dqueue.settings import Settings
from dqueue.worker import Worker

QUEUE = "bench"


@task(queue=QUEUE, max_attempts=1)
def noop() -> None:
    """Do nothing: the job's cost is the worker's."""


def make_job(now: float) -> Job:
    return Job(id=new_job_id(), task=noop.name, queue=QUEUE, enqueued_at=now, max_attempts=1)


def per_job_calls(rounds: int) -> float:
    """Seconds per job of the three metrics calls, best of 5."""
    metrics = WorkerMetrics(QUEUE)
    now = time.time()
    outcome = Outcome(
        job=make_job(now), kind=OutcomeKind.ACK, started_at=now, finished_at=now + 1e-4
    )
    batch = [outcome]

    def one_job() -> None:
        metrics.job_started(outcome.job)
        metrics.job_finished(outcome)
        metrics.settled(batch, (), ())

    return min(timeit.repeat(one_job, number=rounds, repeat=5)) / rounds


def drain(jobs: int, with_metrics: bool) -> float:
    """Seconds per job for a burst worker draining ``jobs`` no-op jobs."""
    settings = Settings(MIDDLEWARE=())
    backend = MemoryBackend.from_settings(settings)
    now = time.time()
    backend.enqueue_many([make_job(now) for _ in range(jobs)])
    metrics = WorkerMetrics(QUEUE) if with_metrics else None
    worker = Worker(settings, QUEUE, 1, backend=backend, burst=True, metrics=metrics)
    started = time.perf_counter()
    worker.run()
    elapsed = time.perf_counter() - started
    assert worker.processed == jobs
    return elapsed / jobs


def main() -> None:
    """Print both measurements."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    calls = per_job_calls(200_000)
    print(f"metrics calls per job: {calls * 1e9:.0f} ns")
    without: list[float] = []
    with_: list[float] = []
    for _ in range(args.repeat):
        without.append(drain(args.jobs, with_metrics=False))
        with_.append(drain(args.jobs, with_metrics=True))
    base, metered = min(without), min(with_)
    print(f"worker, no metrics:   {base * 1e6:.1f} us/job (best of {args.repeat})")
    print(f"worker, with metrics: {metered * 1e6:.1f} us/job (best of {args.repeat})")
    print(f"difference: {(metered - base) * 1e6:+.2f} us/job ({(metered / base - 1) * 100:+.1f}%)")


if __name__ == "__main__":
    main()
