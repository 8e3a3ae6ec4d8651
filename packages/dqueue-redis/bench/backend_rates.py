"""Rates of the two Redis backends through their Python API, in one process (no worker).

    python packages/dqueue-redis/bench/backend_rates.py [valkey|redis] [--rounds 3]

For each backend: enqueue one by one (5,000 jobs), enqueue in batches of 1,000 (20,000 jobs),
drain with reserve(limit=32) + one settle per batch, and the lateness of 200 jobs due over 2 s
taken by one waiting consumer thread. Each figure is the median of the rounds. It starts its own
server (tests/support/redis_server.py); run it from the repository root. The end-to-end
comparison with workers and peers is bench/bench_redis.py.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from dqueue_redis import RedisBackend, ReliableRedisBackend
from dqueue_redis.backends import _RedisBackendBase
from tests.support.redis_server import RedisServer, unique_prefix


def _job(queue: str, **fields: float) -> Job:
    return Job(id=new_job_id(), task="bench.noop", queue=queue, enqueued_at=time.time(), **fields)


def one_round(backend: _RedisBackendBase) -> dict[str, float]:
    """One round of every measure on ``backend``; rates in jobs/s, lateness in ms."""
    jobs = [_job("bench") for _ in range(5000)]
    started = time.perf_counter()
    for job in jobs:
        backend.enqueue(job)
    one = len(jobs) / (time.perf_counter() - started)
    jobs = [_job("bench") for _ in range(20_000)]
    started = time.perf_counter()
    for first in range(0, len(jobs), 1000):
        backend.enqueue_many(jobs[first : first + 1000])
    bulk = len(jobs) / (time.perf_counter() - started)
    drained = 0
    started = time.perf_counter()
    while batch := backend.reserve("bench", worker_id="w", timeout_s=0, limit=32):
        now = time.time()
        outcomes = [Outcome(job=job, kind=OutcomeKind.ACK, started_at=now) for job in batch]
        backend.settle(outcomes, worker_id="w")
        drained += len(batch)
    drain = drained / (time.perf_counter() - started)
    late = _lateness(backend)
    return {
        "enqueue one": one,
        "enqueue bulk": bulk,
        "drain": drain,
        "late p50": late[len(late) // 2],
        "late p99": late[int(len(late) * 0.99)],
    }


def _lateness(backend: _RedisBackendBase) -> list[float]:
    samples: list[float] = []
    stop = threading.Event()

    def consume() -> None:
        while not stop.is_set():
            batch = backend.reserve("late", worker_id="c", timeout_s=0.5, limit=8)
            now = time.time()
            samples.extend(1000 * (now - (job.run_after or now)) for job in batch)
            if batch:
                outcomes = [Outcome(job=job, kind=OutcomeKind.ACK) for job in batch]
                backend.settle(outcomes, worker_id="c")

    consumer = threading.Thread(target=consume)
    consumer.start()
    start = time.time() + 0.5
    backend.enqueue_many([_job("late", run_after=start + i * 0.01) for i in range(200)])
    while len(samples) < 200 and time.time() < start + 30:
        time.sleep(0.05)
    stop.set()
    consumer.join()
    return sorted(samples)


def main() -> None:
    """Print the medians of each backend's rounds."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("kind", nargs="?", default="valkey", choices=["valkey", "redis"])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with RedisServer(args.kind) as server:
        for cls in (RedisBackend, ReliableRedisBackend):
            rounds = []
            for _ in range(args.rounds):
                settings = Settings().replace(REDIS_URL=server.url, REDIS_PREFIX=unique_prefix())
                backend = cls.from_settings(settings)
                rounds.append(one_round(backend))
                backend.close()
            medians = {key: statistics.median(r[key] for r in rounds) for key in rounds[0]}
            print(
                f"{args.kind} {cls.__name__}: enqueue one {medians['enqueue one']:,.0f}/s, "
                f"bulk {medians['enqueue bulk']:,.0f}/s, drain {medians['drain']:,.0f}/s, "
                f"lateness p50 {medians['late p50']:.2f} ms p99 {medians['late p99']:.2f} ms"
            )


if __name__ == "__main__":
    main()
