"""What the worker spends per no-op job: CPU time of a burst worker, and where it goes.

    python bench/profile_worker.py                         # reliable Redis and SQLite
    python bench/profile_worker.py --backend reliable --profile   # + the top cProfile entries
    BENCH_DQUEUE_BASELINE=/tmp/main python bench/profile_worker.py  # + that checkout, same run

Enqueues ``--jobs`` no-op jobs, then runs one :class:`dqueue.worker.Worker` in this process
(``burst``, default settings: ``LoggingMiddleware``, log level WARNING) until the queue is
empty, and divides the process CPU time of the run (every thread: lease keeper, watchdog) by
the jobs. For Redis, the server's own CPU per job too (``INFO cpu``). Each figure is the median
of ``--repeat`` runs. With ``BENCH_DQUEUE_BASELINE``, every repeat also runs the same
measurement in a subprocess on that checkout's sources, interleaved, and prints the ratio of
each pair (a change of machine load between repeats then cancels out).
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))

QUEUE = "bench"
BACKENDS = ("reliable", "redis", "sqlite", "memory")


def measure(backend_name: str, jobs: int, redis_url: str | None, profile: bool) -> dict[str, float]:
    """One drain in this process: CPU µs per job of the worker (and of Redis, if used)."""
    from peers.dqueue_tasks import noop

    from dqueue.job import Job, new_job_id
    from dqueue.logs import configure_logging
    from dqueue.worker import Worker

    configure_logging("WARNING")
    settings, backend = make_backend(backend_name, redis_url)
    now = time.time()
    backend.enqueue_many(
        [Job(id=new_job_id(), task=noop.name, queue=QUEUE, enqueued_at=now) for _ in range(jobs)]
    )
    worker = Worker(settings, QUEUE, 1, backend=backend, burst=True)
    server_before = redis_cpu(redis_url) if redis_url else 0.0
    profiler = cProfile.Profile(time.thread_time) if profile else None
    cpu, wall = time.process_time(), time.perf_counter()
    if profiler is not None:
        profiler.enable()
    worker.run()
    if profiler is not None:
        profiler.disable()
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    server = (redis_cpu(redis_url) - server_before) if redis_url else 0.0
    if worker.processed != jobs:
        raise SystemExit(f"the worker ran {worker.processed} of {jobs} jobs")
    if profiler is not None:
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(int(os.environ.get("BENCH_PROFILE_ROWS", "25")))
        stats.sort_stats("cumulative").print_stats(35)
    backend.close()
    per_job = 1e6 / jobs
    return {"cpu_us": cpu * per_job, "wall_us": wall * per_job, "server_us": server * per_job}


def make_backend(name: str, redis_url: str | None) -> tuple[Any, Any]:
    """Settings (defaults but for the store) and the backend ``name`` names."""
    from dqueue.settings import Settings

    if name in ("reliable", "redis"):
        os.environ["DQUEUE_REDIS_URL"] = redis_url or ""
        os.environ["DQUEUE_REDIS_PREFIX"] = f"profile{time.time_ns()}"
        from dqueue.settings import get_settings
        from dqueue_redis import RedisBackend, ReliableRedisBackend

        settings = get_settings()
        cls = ReliableRedisBackend if name == "reliable" else RedisBackend
        return settings, cls.from_settings(settings)
    if name == "sqlite":
        from dqueue.backends.sqlite import SQLiteBackend

        path = Path(tempfile.mkdtemp(prefix="dqueue-profile-")) / "jobs.sqlite3"
        settings = Settings(SQLITE_PATH=str(path))
        return settings, SQLiteBackend.from_settings(settings)
    from dqueue.backends.memory import MemoryBackend

    settings = Settings()
    return settings, MemoryBackend.from_settings(settings)


def redis_cpu(url: str) -> float:
    import redis

    info = redis.Redis.from_url(url).info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])


def in_subprocess(root: str | None, backend: str, jobs: int, url: str | None) -> dict[str, float]:
    """One measurement in a fresh process, on this checkout or on the sources under ``root``."""
    path = [str(BENCH_DIR)]
    if root is not None:
        path += [f"{root}/packages/{package}/src" for package in ("dqueue-core", "dqueue-redis")]
    elif os.environ.get("PYTHONPATH"):
        path.append(os.environ["PYTHONPATH"])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    argv = [sys.executable, __file__, "--one", backend, "--jobs", str(jobs)]
    argv += ["--redis-url", url] if url else []
    out = subprocess.run(argv, env=env, check=True, capture_output=True, text=True).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="reliable,sqlite", help=f"of {', '.join(BACKENDS)}")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print cProfile's top entries")
    parser.add_argument("--one", help=argparse.SUPPRESS)  # a single run, JSON out
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.one, args.jobs, args.redis_url, profile=False)))
        return
    baseline = os.environ.get("BENCH_DQUEUE_BASELINE")
    from harness import RedisServer, machine_info, workdir

    with workdir("dqueue-profile-") as tmp:
        server = RedisServer(tmp)
        try:
            print(
                f"{server.kind} {server.version}; {args.jobs:,} jobs, {args.repeat} repeats; "
                f"load average {machine_info()['load_average']}"
            )
            for name in args.backend.split(","):
                url = server.url if name in ("reliable", "redis") else None
                if args.profile:
                    measure(name, args.jobs, url, profile=True)
                    continue
                mine: list[dict[str, float]] = []
                theirs: list[dict[str, float]] = []
                for index in range(args.repeat):
                    # Interleaved, the order swapped every repeat.
                    sides = [(None, mine), *([(baseline, theirs)] if baseline else [])]
                    for root, into in sides if index % 2 == 0 else reversed(sides):
                        into.append(in_subprocess(root, name, args.jobs, url))
                report(name, mine, theirs)
        finally:
            server.stop()


def report(name: str, mine: list[dict[str, float]], theirs: list[dict[str, float]]) -> None:
    def med(runs: list[dict[str, float]], key: str) -> float:
        return statistics.median(run[key] for run in runs)

    line = f"{name:9} worker CPU {med(mine, 'cpu_us'):6.1f} us/job"
    line += f", wall {med(mine, 'wall_us'):6.1f}"
    if mine[0]["server_us"]:
        line += f", Redis CPU {med(mine, 'server_us'):5.1f}"
    runs = ", ".join(f"{run['cpu_us']:.1f}" for run in mine)
    print(f"{line}  (runs: {runs})")
    if theirs:
        ratios = [a["cpu_us"] / b["cpu_us"] for a, b in zip(mine, theirs, strict=True)]
        print(
            f"{'':9} baseline   {med(theirs, 'cpu_us'):6.1f} us/job; this ÷ baseline, median "
            f"of the pairs: {statistics.median(ratios):.2f}  (pairs: "
            f"{', '.join(f'{r:.2f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()
