"""Async tasks that wait on I/O: one worker with DQUEUE_ASYNC_CONCURRENCY 1 against 100.

    python bench/bench_async.py                                # reliable Redis and SQLite
    python bench/bench_async.py --backend reliable --jobs 1000 --repeat 5

Enqueues ``--jobs`` jobs of an ``async def`` task that awaits ``asyncio.sleep(0.01)`` (10 ms of
I/O), then drains them with one burst :class:`dqueue.worker.Worker` in this process, once with
``DQUEUE_ASYNC_CONCURRENCY=1`` (one job at a time, each on a fresh event loop: what every worker
did before) and once with ``--concurrency`` (default 100), interleaved ``--repeat`` times, the
order swapped every repeat. Prints the median drain rate of each and their ratio, computed
within the run; the goal (issue 12) is a ratio of at least 50. Default settings otherwise
(``LoggingMiddleware``, log level WARNING, leases renewed as usual).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from dqueue import task

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

QUEUE = "bench-async"
BACKENDS = ("reliable", "sqlite", "memory")
GOAL = 50.0


@task(queue=QUEUE)
async def wait_10ms() -> None:
    """10 ms of I/O, as a job that calls a slow service would wait."""
    await asyncio.sleep(0.01)


def drain(
    backend_name: str, jobs: int, concurrency: int, redis_url: str | None
) -> tuple[float, float]:
    """Enqueue ``jobs`` jobs, drain them with one burst worker.

    Returns jobs per second and the worker's CPU time per job in µs (every thread of this
    process: the event loop's, the lease keeper's).
    """
    from dqueue.job import Job, new_job_id
    from dqueue.worker import Worker

    settings, backend = make_backend(backend_name, redis_url, concurrency)
    try:
        now = time.time()
        backend.enqueue_many(
            [
                Job(id=new_job_id(), task=wait_10ms.name, queue=QUEUE, enqueued_at=now)
                for _ in range(jobs)
            ]
        )
        worker = Worker(settings, QUEUE, 1, backend=backend, burst=True)
        started, cpu = time.perf_counter(), time.process_time()
        worker.run()
        took, cpu = time.perf_counter() - started, time.process_time() - cpu
        if worker.processed != jobs:
            raise SystemExit(f"the worker ran {worker.processed} of {jobs} jobs")
        return jobs / took, cpu * 1e6 / jobs
    finally:
        backend.close()


def make_backend(name: str, redis_url: str | None, concurrency: int) -> tuple[Any, Any]:
    """Settings (defaults but for the store and the concurrency) and the backend ``name``."""
    from dqueue.settings import Settings

    if name == "reliable":
        from dqueue_redis import ReliableRedisBackend

        prefix = f"async{time.time_ns()}"
        settings = Settings(ASYNC_CONCURRENCY=concurrency)
        settings = settings.replace(REDIS_URL=redis_url, REDIS_PREFIX=prefix)
        return settings, ReliableRedisBackend.from_settings(settings)
    if name == "sqlite":
        from dqueue.backends.sqlite import SQLiteBackend

        path = Path(tempfile.mkdtemp(prefix="dqueue-async-")) / "jobs.sqlite3"
        settings = Settings(SQLITE_PATH=str(path), ASYNC_CONCURRENCY=concurrency)
        return settings, SQLiteBackend.from_settings(settings)
    from dqueue.backends.memory import MemoryBackend

    settings = Settings(ASYNC_CONCURRENCY=concurrency)
    return settings, MemoryBackend.from_settings(settings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="reliable,sqlite", help=f"of {', '.join(BACKENDS)}")
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    from harness import RedisServer, machine_info, workdir

    from dqueue.logs import configure_logging

    configure_logging("WARNING")
    with workdir("dqueue-bench-async-") as tmp:
        server = RedisServer(tmp) if "reliable" in args.backend else None
        try:
            where = f"{server.kind} {server.version}; " if server else ""
            print(
                f"{where}{args.jobs:,} jobs awaiting 10 ms each, {args.repeat} repeats; "
                f"load average {machine_info()['load_average']}; pid {os.getpid()}"
            )
            for name in args.backend.split(","):
                url = server.url if server and name == "reliable" else None
                runs: dict[int, list[tuple[float, float]]] = {1: [], args.concurrency: []}
                for index in range(args.repeat):
                    order = [1, args.concurrency]
                    for concurrency in order if index % 2 == 0 else reversed(order):
                        runs[concurrency].append(drain(name, args.jobs, concurrency, url))
                report(name, runs, args.concurrency)
        finally:
            if server is not None:
                server.stop()


def report(name: str, runs: dict[int, list[tuple[float, float]]], concurrency: int) -> None:
    def median(key: int, index: int) -> float:
        return statistics.median(run[index] for run in runs[key])

    one, many = median(1, 0), median(concurrency, 0)
    ratio = many / one
    verdict = "meets" if ratio >= GOAL else "misses"
    print(
        f"{name:9} concurrency 1: {one:7,.0f} jobs/s   concurrency {concurrency}: "
        f"{many:7,.0f} jobs/s   ratio {ratio:5.1f}x ({verdict} the {GOAL:g}x goal)"
    )
    print(
        f"{'':9} worker CPU per job: {median(1, 1):5.0f} us at 1, "
        f"{median(concurrency, 1):5.0f} us at {concurrency}"
    )
    for key, figures in runs.items():
        rates = ", ".join(f"{rate:,.0f}" for rate, _ in figures)
        print(f"{'':9} jobs/s at {key}: {rates}")


if __name__ == "__main__":
    main()
