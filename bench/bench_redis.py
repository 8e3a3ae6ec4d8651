"""dqueue's two Redis backends against RQ, Dramatiq, Huey, Celery and plain redis-py, on one
Redis server, in one run.

    python bench/bench_redis.py            # the full run: 3 rounds, 20,000-job drains
    python bench/bench_redis.py --quick    # 1 round, 5,000-job drains
    python bench/bench_redis.py --only "dqueue reliable,celery" --json bench/results/redis.json

Measures, per system: enqueue jobs/s one by one and through the bulk API; drain jobs/s of N
no-op jobs enqueued beforehand, with 1 and 2 worker processes (from the first run to the last
run the tasks record), in two views: the task only counts (the probe), and the task also does
one Redis ``INCR`` (a job that touches the store once); the workers' CPU time per job in each
view; lateness p50/p99/max of 200 jobs due over 2 s; and the worker's peak RSS (the whole
process tree of one worker, sampled with psutil during the 1-process drain). Each
figure is the median of the rounds; ratios and goals are computed from this run only. See
bench/README.md for each peer's configuration.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence

from harness import BENCH_DIR, PYTHON, Goal, Probe, RedisServer, Results, base_env, log, workdir
from suite import (
    Context,
    DqueueSystem,
    System,
    add_common_arguments,
    best,
    dqueue_worker_description,
    dqueue_workers,
    exit_cleanly_on_signals,
    finish_arguments,
    goal,
    report,
    run_rounds,
    select,
)

DQUEUE_RELIABLE = "dqueue reliable"
DQUEUE_PLAIN = "dqueue redis"
FLOOR = "redis-py floor"
BASELINE = "dqueue reliable (baseline)"
PACKAGES = ("dqueue-core", "dqueue-redis")
PEERS = ("rq", "dramatiq", "huey", "celery")
DEFAULTS = {"jobs": 20_000, "one": 3_000, "bulk": 10_000}
QUICK = {"jobs": 5_000, "one": 1_000, "bulk": 2_000}
#: Dramatiq's default; with --threads 1 its prefetch is 2 and its idle backoff dominates.
#: RQ's fastest worker; the default `rq.worker.Worker` forks a work horse per job.
RQ_WORKER_CLASS = os.environ.get("BENCH_RQ_WORKER_CLASS", "rq.worker.SimpleWorker")
DRAMATIQ_THREADS = os.environ.get("BENCH_DRAMATIQ_THREADS", "8")


def rq_workers(url: str) -> Callable[[int, bool], list[list[str]]]:
    def commands(processes: int, scheduled: bool) -> list[list[str]]:
        argv = [PYTHON, "-m", "rq.cli", "worker", "--url", url, "--worker-class"]
        argv += [RQ_WORKER_CLASS, "--quiet", "--disable-job-desc-logging"]
        if scheduled:
            argv.append("--with-scheduler")
        return [[*argv, "bench"] for _ in range(processes)]

    return commands


def dramatiq_workers(processes: int, scheduled: bool) -> list[list[str]]:
    return [
        [
            PYTHON, "-m", "dramatiq", "peers.dramatiq_tasks",
            "--processes", str(processes), "--threads", DRAMATIQ_THREADS, "--queues", "bench",
        ]
    ]  # fmt: skip


def huey_workers(processes: int, scheduled: bool) -> list[list[str]]:
    kind = "thread" if processes == 1 else "process"
    return [
        [
            PYTHON, "-m", "huey.bin.huey_consumer", "peers.huey_tasks.huey",
            "--workers", str(processes), "--worker-type", kind, "--quiet",
        ]
    ]  # fmt: skip


def celery_workers(processes: int, scheduled: bool) -> list[list[str]]:
    return [
        [
            PYTHON, "-m", "celery", "-A", "peers.celery_tasks", "worker",
            "--pool", "solo", "--concurrency", "1", "--queues", "bench",
            "--loglevel", "WARNING", "--hostname", f"bench{index}@%h",
            "--without-gossip", "--without-mingle", "--without-heartbeat",
        ]
        for index in range(processes)
    ]  # fmt: skip


def floor_workers(processes: int, scheduled: bool) -> list[list[str]]:
    return [[PYTHON, "-m", "peers.floor"] for _ in range(processes)]


def make_systems(url: str) -> list[System]:
    dqueue_env = {
        "DQUEUE_REDIS_URL": url,
        "DQUEUE_REDIS_PREFIX": "bench",
        "DQUEUE_LOG_LEVEL": "WARNING",
    }
    reliable = "dqueue.backends.reliable_redis.ReliableRedisBackend"
    dqueue_config = (
        dqueue_worker_description()
        + "; default settings (DQUEUE_PREFETCH=32), log level WARNING; "
        + "bulk = `dqueue.bulk_enqueue()`"
    )
    return [
        DqueueSystem(
            DQUEUE_RELIABLE, "dqueue", "dqueue", dqueue_workers,
            env={**dqueue_env, "DQUEUE_BACKEND": reliable},
            config=dqueue_config + "; at-least-once (leased jobs)",
            versions=("dqueue-core", "dqueue-redis"),
        ),
        DqueueSystem(
            DQUEUE_PLAIN, "dqueue", "dqueue", dqueue_workers,
            env={**dqueue_env, "DQUEUE_BACKEND": "dqueue.backends.redis.RedisBackend"},
            config=dqueue_config + "; at-most-once",
            versions=(),
        ),
        System(
            "rq", "rq", "peer", rq_workers(url),
            config="`rq worker --worker-class rq.worker.SimpleWorker --quiet` per process (no "
            "fork per job, RQ's fastest worker); `--with-scheduler` for delayed jobs "
            "(`enqueue_at`); bulk = `Queue.enqueue_many` in batches of 1,000; default result TTL",
            versions=("rq",),
        ),
        System(
            "dramatiq", "dramatiq", "peer", dramatiq_workers,
            config=f"`dramatiq --processes N --threads {DRAMATIQ_THREADS}`; RedisBroker, default "
            "middleware; prefetch threads x 2; acks after the run; delays via `send_with_options("
            "delay=ms)`; no bulk API",
            versions=("dramatiq",),
        ),
        System(
            "huey", "huey", "peer", huey_workers,
            config="`huey_consumer -w 1 -k thread` (1 process) / `-w 2 -k process` (2); RedisHuey "
            "(blocking BRPOP), default scheduler interval 1 s (its minimum); delays via "
            "`schedule(delay=...)`; no bulk API",
            versions=("huey",),
        ),
        System(
            "celery", "celery", "peer", celery_workers,
            config="`celery worker --pool solo --concurrency 1` per process, without "
            "gossip/mingle/heartbeat; prefetch multiplier 4 and early acks (defaults), no result "
            "backend; delays via `apply_async(eta=...)`; bulk = `apply_async(producer=...)` with "
            "one producer from `app.producer_or_acquire()`",
            versions=("celery", "kombu"),
        ),
        System(
            FLOOR, "floor", "floor", floor_workers, delays=False,
            config="LPUSH of a job-sized JSON document, one by one or pipelined in batches of "
            "1,000; worker: one BRPOP per job, json.loads, the probe (in the +INCR view: the "
            "BRPOP+INCR loop)",
            versions=("redis",),
        ),
        *baseline_systems(dqueue_env, reliable),
    ]  # fmt: skip


def baseline_systems(dqueue_env: dict[str, str], reliable: str) -> list[System]:
    """The reliable backend once more, from the repository at ``BENCH_DQUEUE_BASELINE``.

    To measure a change against the code it changes in one run (a ``git worktree`` of main,
    say), rather than across two runs of a noisy machine.
    """
    root = os.environ.get("BENCH_DQUEUE_BASELINE")
    if not root:
        return []
    sources = [str(BENCH_DIR)] + [f"{root}/packages/{name}/src" for name in PACKAGES]
    return [
        DqueueSystem(
            BASELINE,
            "dqueue",
            "dqueue",
            dqueue_workers,
            env={**dqueue_env, "DQUEUE_BACKEND": reliable, "PYTHONPATH": os.pathsep.join(sources)},
            config=f"{DQUEUE_RELIABLE}, the code of {root}",
        )
    ]


def evaluate_goals(results: Results, dqueue_names: Sequence[str]) -> list[Goal]:
    goals: list[Goal] = []
    peer_drain, _ = best(results, PEERS, "drain_1")
    peer_one, _ = best(results, PEERS, "enqueue_one")
    light, light_value = best(results, PEERS, "rss", low=True)
    for name in dqueue_names:
        if name == DQUEUE_RELIABLE:
            goals.append(goal(
                f"{name}: drain 1 proc ÷ best peer's ({peer_drain})",
                results.ratio(name, peer_drain, "drain_1"), "ratio", "≥ 3x", lambda v: v >= 3,
            ))  # fmt: skip
            goals.append(goal(
                f"{name}: drain 1 proc ÷ BRPOP-per-job floor",
                results.ratio(name, FLOOR, "drain_1"), "ratio", "≥ 2x", lambda v: v >= 2,
            ))  # fmt: skip
            goals.append(goal(
                f"{name}: drain 1 proc +INCR ÷ BRPOP+INCR loop",
                results.ratio(name, FLOOR, "drain_1_incr"), "ratio", "≥ 0.8x",
                lambda v: v >= 0.8,
            ))  # fmt: skip
            goals.append(goal(
                f"{name}: drain 1 proc +INCR ÷ huey's",
                results.ratio(name, "huey", "drain_1_incr"), "ratio", "≥ 4x", lambda v: v >= 4,
            ))  # fmt: skip
            goals.append(goal(
                f"{name}: worker CPU per no-op job (probe view)",
                results.median(name, "cpu_1"), "us", "≤ 30 µs", lambda v: v <= 30,
            ))  # fmt: skip
        goals.append(goal(
            f"{name}: enqueue 1-by-1 ÷ best peer's ({peer_one})",
            results.ratio(name, peer_one, "enqueue_one"), "ratio", "≥ 1x",
            lambda v: v >= 1,
        ))  # fmt: skip
        goals.append(goal(
            f"{name}: enqueue 1-by-1 ÷ LPUSH loop",
            results.ratio(name, FLOOR, "enqueue_one"), "ratio", "≥ 0.75x",
            lambda v: v >= 0.75,
        ))  # fmt: skip
        goals.append(goal(  # issue 12's figure, with hiredis as users install it
            f"{name}: bulk enqueue ÷ pipelined LPUSH",
            results.ratio(name, FLOOR, "enqueue_bulk"), "ratio", "≥ 0.45x",
            lambda v: v >= 0.45,
        ))  # fmt: skip
        goals.append(goal(  # 200 delayed jobs alone; bench_lateness.py adds the loaded case
            f"{name}: lateness p99", results.median(name, "late_p99"), "ms", "< 2 ms",
            lambda v: v < 2,
        ))  # fmt: skip
        goals.append(goal(
            f"{name}: lateness p50", results.median(name, "late_p50"), "ms", "< 2 ms",
            lambda v: v < 2,
        ))  # fmt: skip
        goals.append(goal(
            f"{name}: worker RSS ÷ lightest peer's ({light}, {light_value or 0:.1f} MB)",
            results.ratio(name, light, "rss"), "ratio", "≤ 1x", lambda v: v <= 1,
        ))  # fmt: skip
    return goals


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, DEFAULTS)
    parser.add_argument(
        "--views",
        default="probe,incr",
        help="drain views: probe (the task only counts), incr (it also does one Redis INCR); "
        "default: both",
    )
    args = parser.parse_args(argv)
    views = tuple(view.strip() for view in args.views.split(","))
    if not views or set(views) - {"probe", "incr"}:
        sys.exit(f"unknown view(s) in --views {args.views!r} (known: probe, incr)")
    exit_cleanly_on_signals()
    finish_arguments(args, DEFAULTS, QUICK)
    results = Results()
    started = time.perf_counter()
    with workdir("dqueue-bench-redis-") as tmp:
        server = RedisServer(tmp)
        try:
            systems = select(make_systems(server.url), args.only)
            log(f"{server.kind} {server.version} at {server.url}; {args.rounds} round(s)")
            logdir = tmp / "logs"
            logdir.mkdir()
            ctx = Context(
                args=args,
                results=results,
                probe=Probe(tmp),
                logdir=logdir,
                env_for=lambda system: base_env(BENCH_REDIS_URL=server.url, **system.env),
                reset=server.flush,
                reset_between_enqueues=server.flush_keeping_bindings,
                views=views,
            )
            skipped = run_rounds(systems, ctx)
        finally:
            server.stop()
    dqueue_names = [s.name for s in systems if s.kind == "dqueue" and s.name in results.rounds]
    report(
        title="Redis benchmark",
        script="bench/bench_redis.py",
        argv=argv,
        args=args,
        systems=systems,
        results=results,
        goals=evaluate_goals(results, dqueue_names),
        skipped=skipped,
        extra_versions={"server": f"{server.kind} {server.version}"},
        elapsed_s=time.perf_counter() - started,
    )
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
