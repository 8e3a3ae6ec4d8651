"""The runner with 1 and 2 workers on one queue: jobs that wait on I/O against no-op jobs.

    python bench/bench_runner.py                    # 3 rounds, reliable Redis and SQLite
    python bench/bench_runner.py --quick            # 1 round, fewer jobs
    python bench/bench_runner.py --only sqlite --rounds 5

Each measurement fills the queue ``bench`` first, then starts ``python -m dqueue runner --tasks
peers.dqueue_tasks`` with ``DQUEUE_WORKERS='{"bench": N}'`` (N = 1, 2) and times the drain as
the other scripts do: from the first run to the last that the probe records (so the runner's
start-up is left out). Two tasks: the no-op (the probe only: all CPU) and the same with a 1 ms
sleep (``BENCH_PROBE_SLEEP_S=0.001``: a job that waits on I/O). The ratio printed is 2 workers
÷ 1, the median of the per-round ratios. Goal (issue 12): ≥ 1.3x for the 1 ms jobs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from harness import (
    PYTHON,
    BenchError,
    Probe,
    RedisServer,
    Results,
    base_env,
    format_value,
    log,
    machine_info,
    markdown_table,
    measure_drain,
    produce,
    workdir,
    write_json,
)
from suite import exit_cleanly_on_signals, rotated

RUNNER = [PYTHON, "-m", "dqueue", "runner", "--tasks", "peers.dqueue_tasks"]
SLEEP_S = "0.001"
GOAL = 1.3


@dataclass(frozen=True)
class Backend:
    name: str
    env: dict[str, str]


@dataclass(frozen=True)
class Task:
    name: str
    env: dict[str, str]
    jobs: int  # per drain (full run)
    quick_jobs: int


TASKS = (
    Task("no-op", {}, 20_000, 5_000),
    Task("sleep 1 ms", {"BENCH_PROBE_SLEEP_S": SLEEP_S}, 4_000, 1_500),
)


def backends(redis_url: str | None) -> list[Backend]:
    found = []
    if redis_url is not None:
        found.append(
            Backend(
                "reliable redis",
                {
                    "DQUEUE_BACKEND": "dqueue.backends.reliable_redis.ReliableRedisBackend",
                    "DQUEUE_REDIS_URL": redis_url,
                    "DQUEUE_REDIS_PREFIX": "bench",
                },
            )
        )
    found.append(
        Backend("sqlite", {"DQUEUE_BACKEND": "dqueue.backends.sqlite.SQLiteBackend"}),
    )
    return found


def measure(
    backend: Backend,
    task: Task,
    workers: int,
    *,
    jobs: int,
    env: dict[str, str],
    probe: Probe,
    logdir: Path,
    timeout_s: float,
) -> tuple[float, float | None]:
    """One drain by a runner with ``workers`` workers: jobs/s and worker CPU µs per job."""
    env = {**env, **task.env, "DQUEUE_WORKERS": json.dumps({"bench": workers})}

    def fill() -> None:
        produce("dqueue", "fill", jobs, env)

    outcome = measure_drain(
        n=jobs,
        fill=fill,
        commands=[RUNNER],
        env=env,
        probe=probe,
        logdir=logdir,
        timeout_s=timeout_s,
        cap_s=None,
        what=f"{backend.name} {task.name} runner x{workers}",
    )
    if outcome.extra_runs:
        raise BenchError(f"{outcome.extra_runs} jobs ran twice")
    return outcome.jobs_per_s, outcome.cpu_us_per_job


def scaling(results: Results, row: str) -> float | None:
    one = results.rounds.get(row, {}).get("workers_1", [])
    two = results.rounds.get(row, {}).get("workers_2", [])
    pairs = [b / a for a, b in zip(one, two, strict=False) if a]
    return statistics.median(pairs) if pairs else None


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 round, fewer jobs")
    parser.add_argument("--rounds", type=int, help="rounds (3; quick 1)")
    parser.add_argument("--only", help="backends: 'reliable redis', 'sqlite' (default: both)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds a drain may take")
    parser.add_argument("--json", metavar="PATH", help="also write every figure as JSON")
    args = parser.parse_args(argv)
    rounds = args.rounds or (1 if args.quick else 3)
    wanted = {name.strip() for name in (args.only or "reliable redis,sqlite").split(",")}
    unknown = wanted - {"reliable redis", "sqlite"}
    if unknown:
        names = ", ".join(sorted(unknown))
        sys.exit(f"unknown backend(s): {names} (known: reliable redis, sqlite)")
    exit_cleanly_on_signals()
    results = Results()
    started = time.perf_counter()
    serial = iter(range(1, 1_000_000))
    with workdir("dqueue-bench-runner-") as tmp:
        server = RedisServer(tmp) if "reliable redis" in wanted else None
        try:
            chosen = [b for b in backends(server.url if server else None) if b.name in wanted]
            logdir = tmp / "logs"
            logdir.mkdir()
            probe = Probe(tmp)

            def env_for(backend: Backend) -> dict[str, str]:
                if server is not None:
                    server.flush()
                path = str(tmp / f"bench-{next(serial)}.sqlite3")
                return base_env(DQUEUE_SQLITE_PATH=path, DQUEUE_LOG_LEVEL="WARNING", **backend.env)

            for index in range(rounds):
                log(f"round {index + 1} of {rounds}")
                for backend in rotated(chosen, index):
                    for task in TASKS:
                        jobs = task.quick_jobs if args.quick else task.jobs
                        row = f"{backend.name}, {task.name}"
                        for workers in (1, 2) if index % 2 == 0 else (2, 1):
                            log(f"  {row}: runner with {workers} worker(s)")
                            try:
                                rate, cpu = measure(
                                    backend,
                                    task,
                                    workers,
                                    jobs=jobs,
                                    env=env_for(backend),
                                    probe=probe,
                                    logdir=logdir,
                                    timeout_s=args.timeout,
                                )
                            except BenchError as exc:
                                log(f"    failed: {exc}")
                                results.error(row, f"{workers} worker(s): {exc}")
                                continue
                            results.add(row, f"workers_{workers}", rate)
                            if cpu is not None:
                                results.add(row, f"cpu_{workers}", cpu)
                        for old in tmp.glob("bench-*.sqlite3*"):
                            old.unlink(missing_ok=True)
        finally:
            if server is not None:
                server.stop()
    report(argv, rounds, results, time.perf_counter() - started, args.json)
    return 1 if results.errors else 0


def report(
    argv: Sequence[str], rounds: int, results: Results, elapsed_s: float, json_path: str | None
) -> None:
    machine = machine_info()
    print(f"\n## Runner: 1 and 2 workers ({elapsed_s:.0f} s)\n")
    print(f"command: python bench/bench_runner.py {' '.join(argv)}".rstrip())
    print(
        f"rounds: {rounds}; machine: {machine['cpus']} CPUs, Python {machine['python']}, "
        f"load average now {machine['load_average']}\n"
    )
    fmt: Callable[[float | None, str], str] = format_value
    rows = [
        [
            row,
            fmt(results.median(row, "workers_1"), "rate"),
            fmt(results.median(row, "workers_2"), "rate"),
            fmt(scaling(results, row), "ratio"),
            fmt(results.median(row, "cpu_1"), "us"),
            fmt(results.median(row, "cpu_2"), "us"),
        ]
        for row in results.rounds
    ]
    titles = ["backend, task", "1 worker /s", "2 workers /s", "2 ÷ 1", "CPU µs/job 1", "2"]
    print(markdown_table(titles, rows))
    print("\nGoal: 2 workers ≥ 1.3x one for jobs that wait on I/O (sleep 1 ms):\n")
    for row in results.rounds:
        if row.endswith("sleep 1 ms"):
            value = scaling(results, row)
            verdict = "—" if value is None else ("met" if value >= GOAL else "MISSED")
            print(f"- {row}: {fmt(value, 'ratio')} ({verdict})")
    for row, errors in results.errors.items():
        for error in errors:
            print(f"error: {row}: {error.splitlines()[0]}")
    if json_path:
        write_json(
            json_path,
            {
                "benchmark": "runner 1 and 2 workers",
                "machine": machine,
                "rounds": results.rounds,
                "medians": results.medians(),
                "scaling": {row: scaling(results, row) for row in results.rounds},
                "errors": results.errors,
            },
        )


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
