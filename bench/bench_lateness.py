"""How late delayed jobs start on one Redis when the store is not idle.

The lateness phase of ``bench_redis.py`` measures 200 delayed jobs on an empty server. Users
keep months of jobs waiting and a queue busy while some come due, so this script measures the
same 200 jobs (due evenly over 2 s) three times in one worker's life, on one queue:

- ``idle``: nothing else stored;
- ``far``: with ``--far`` other jobs (100,000) delayed a day ahead on the same queue;
- ``loaded``: the same, while a producer enqueues ``--stream-rate`` ready jobs a second (1,000)
  that the worker drains beside the delayed ones.

Lateness is the start time minus the due time, as the task sees it (``peers/probe.py``). Every
system runs the same steps, systems alternate within each round, and the report gives medians
over rounds and each system's ``loaded`` p99 over its ``idle`` one::

    python bench/bench_lateness.py                       # about 6 minutes here
    python bench/bench_lateness.py --quick               # 20,000 far jobs, 1 round
    python bench/bench_lateness.py --only "dqueue reliable,huey" --far 100000 --rounds 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

from bench_redis import DQUEUE_RELIABLE, make_systems
from harness import (
    BENCH_DIR,
    PYTHON,
    BenchError,
    Probe,
    RedisServer,
    Workers,
    base_env,
    log,
    markdown_table,
    median,
    percentile,
    produce,
    ratio,
    wait_for_count,
    workdir,
)
from suite import System, exit_cleanly_on_signals, select

CONDITIONS = ("idle", "far", "loaded")
DEFAULT_SYSTEMS = "dqueue reliable,dqueue redis,huey,celery"
#: The issue's goals for dqueue's reliable backend, p99 in ms per condition.
GOALS_MS = {"idle": 2.0, "loaded": 5.0}


def measure_system(
    system: System,
    args: argparse.Namespace,
    server: RedisServer,
    probe: Probe,
    logdir: Path,
    late: dict[str, list[float]],
) -> None:
    """The three conditions in one worker's life: lateness values (ms) into ``late``.

    A condition that fails (its jobs did not all run in time) raises; those before it stay.
    """
    server.flush()
    env = base_env(BENCH_REDIS_URL=server.url, BENCH_PROBE_DIR=str(probe.new()), **system.env)
    workers = Workers(system.commands(1, True), env, logdir)
    seen: Counter[float] = Counter()
    ran = 1
    try:
        produce(system.producer, "fill", 1, env)  # a warm-up job: the worker is up once it ran
        wait_for_count(probe, ran, workers, 120, f"{system.name} warm-up")
        for condition in CONDITIONS:
            if condition == "far":
                filled = produce(system.producer, "far", args.far, env)
                log(f"    {args.far:,} far jobs stored in {filled.get('seconds', 0):.1f} s")
            streamer = None
            if condition == "loaded":
                seconds = 1.0 + args.spread + 0.5  # from before the first due to after the last
                streamer = start_stream(system.producer, args.stream_rate, seconds, env)
            produce(system.producer, "delayed", args.jobs, env, "1.0", str(args.spread))
            ran += args.jobs
            if streamer is not None:
                ran += finish_stream(streamer)
            what = f"{system.name} {condition}"
            totals = wait_for_count(probe, ran, workers, args.spread + args.timeout, what)
            now = Counter(totals.lateness)
            values = sorted(value * 1000 for value in (now - seen).elements())
            seen = now
            if len(values) != args.jobs:
                raise BenchError(f"{what}: {len(values)} lateness values for {args.jobs} jobs")
            late[condition] = values
    finally:
        workers.stop()


def start_stream(
    system: str, rate: int, seconds: float, env: dict[str, str]
) -> subprocess.Popen[str]:
    """A producer enqueuing ``rate`` ready jobs a second for ``seconds``, in the background."""
    command = [PYTHON, "-m", "peers.produce", system, "stream", str(rate), str(seconds)]
    return subprocess.Popen(command, env=env, cwd=BENCH_DIR, stdout=subprocess.PIPE, text=True)


def finish_stream(streamer: subprocess.Popen[str]) -> int:
    """How many jobs the background producer enqueued, once it is done."""
    out, _ = streamer.communicate(timeout=120)
    reply = json.loads(out.strip().splitlines()[-1])
    if "n" not in reply:
        raise BenchError(f"the stream producer failed: {reply}")
    return int(reply["n"])


def summary(values: Sequence[float]) -> tuple[float, float, float]:
    """p50, p99 and max of sorted values (ms)."""
    return percentile(values, 50), percentile(values, 99), values[-1]


Rounds = dict[str, list[dict[str, list[float]]]]  # system -> per round: condition -> values


def report(systems: Sequence[System], rounds: Rounds, args: argparse.Namespace) -> str:
    """The tables: medians over rounds of each percentile, ratios, goals."""
    headers = ["system", "condition", "p50 ms", "p99 ms", "max ms", "rounds"]
    rows: list[list[str]] = []
    p99: dict[tuple[str, str], float | None] = {}
    for system in systems:
        for condition in CONDITIONS:
            runs = rounds.get(system.name, [])
            figures = [summary(r[condition]) for r in runs if condition in r]
            medians = [median([f[i] for f in figures]) for i in range(3)]
            p99[system.name, condition] = medians[1]
            shown = ["—" if m is None else f"{m:,.1f}" for m in medians]
            rows.append([system.name, condition, *shown, f"{len(figures)} of {len(runs)}"])
    lines = [markdown_table(headers, rows), ""]
    ratio_rows = []
    for system in systems:
        loaded = ratio(p99[system.name, "loaded"], p99[system.name, "idle"])
        ratio_rows.append([system.name, "—" if loaded is None else f"{loaded:.2f}x"])
    lines += ["p99 loaded ÷ p99 idle (medians of this run):", ""]
    lines += [markdown_table(["system", "ratio"], ratio_rows), ""]
    goal_rows = []
    for condition, target in GOALS_MS.items():
        measured = p99.get((DQUEUE_RELIABLE, condition))
        verdict = "—" if measured is None else ("met" if measured < target else "MISSED")
        shown = "—" if measured is None else f"{measured:.1f} ms"
        goal = f"{DQUEUE_RELIABLE}: p99 {condition}"
        goal_rows.append([goal, shown, f"< {target:g} ms", verdict])
    lines += [markdown_table(["goal", "measured", "target", "verdict"], goal_rows)]
    lines += [
        "",
        f"{args.jobs} delayed jobs due over {args.spread:g} s; far = {args.far:,} jobs due in a"
        f" day; loaded = far + {args.stream_rate:,} ready jobs/s enqueued one by one;"
        f" rounds: those in which the condition's jobs all ran within {args.timeout:g} s of"
        " their due times (a system stops at its first condition that does not)",
    ]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="20,000 far jobs, 1 round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds (3; quick 1)")
    parser.add_argument("--far", type=int, default=100_000, help="far jobs (100,000)")
    parser.add_argument("--stream-rate", type=int, default=1_000, help="ready jobs/s (1,000)")
    parser.add_argument("--jobs", type=int, default=200, help="delayed jobs measured (200)")
    parser.add_argument("--spread", type=float, default=2.0, help="seconds they are due over (2)")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="seconds a condition's jobs may take (120)"
    )
    parser.add_argument("--only", default=DEFAULT_SYSTEMS, help=f"systems ({DEFAULT_SYSTEMS})")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.far = 1, min(args.far, 20_000)
    exit_cleanly_on_signals()
    started = time.perf_counter()
    rounds: Rounds = {}
    failures = 0
    with workdir("dqueue-bench-lateness-") as tmp:
        server = RedisServer(tmp)
        try:
            systems = [s for s in select(make_systems(server.url), args.only) if s.delays]
            probe, logdir = Probe(tmp), tmp / "logs"
            logdir.mkdir()
            log(f"{server.kind} {server.version}; {args.rounds} round(s)")
            for number in range(1, args.rounds + 1):
                for system in systems:
                    log(f"round {number}: {system.name}")
                    late: dict[str, list[float]] = {}
                    rounds.setdefault(system.name, []).append(late)
                    try:
                        measure_system(system, args, server, probe, logdir, late)
                    except BenchError as exc:
                        failures += 1
                        log(f"  {system.name} failed: {exc}")
        finally:
            server.stop()
    print(f"\n## Lateness under load ({time.perf_counter() - started:.0f} s)\n")
    print(report(systems, rounds, args))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
