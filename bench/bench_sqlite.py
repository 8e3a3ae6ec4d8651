"""dqueue's SQLite backend against Huey's SQLite storage (``SqliteHuey`` and its consumer), on
the same machine, in one run.

    python bench/bench_sqlite.py            # the full run: 3 rounds, 20,000-job drains
    python bench/bench_sqlite.py --quick    # 1 round, 5,000-job drains
    python bench/bench_sqlite.py --json bench/results/sqlite.json

Measures, per system: enqueue jobs/s one by one and through the bulk API; drain jobs/s of N
no-op jobs enqueued beforehand, with 1 and 2 worker processes (from the first run to the last
run the tasks record); lateness p50/p99/max of 200 jobs due over 2 s; and the worker's peak RSS.
Every measurement gets a fresh database file on local disk. Huey runs twice: with its defaults
(SQLite's ``synchronous=FULL``: an fsync per commit) and with ``synchronous=NORMAL``, the
durability dqueue's backend uses; the goal compares dqueue with the latter, like for like.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sqlite3
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from harness import BENCH_DIR, PYTHON, Goal, Probe, Results, base_env, workdir
from suite import (
    Context,
    DqueueSystem,
    System,
    add_common_arguments,
    dqueue_worker_description,
    dqueue_workers,
    exit_cleanly_on_signals,
    finish_arguments,
    goal,
    report,
    run_rounds,
    scaling,
    select,
)

DQUEUE = "dqueue sqlite"
BASELINE = "dqueue sqlite (baseline)"
HUEY_NORMAL = "huey sqlite NORMAL"
HUEY_DEFAULT = "huey sqlite (defaults)"
DEFAULTS = {"jobs": 20_000, "one": 3_000, "bulk": 10_000}
QUICK = {"jobs": 5_000, "one": 1_000, "bulk": 2_000}


def huey_workers(processes: int, scheduled: bool) -> list[list[str]]:
    kind = "thread" if processes == 1 else "process"
    return [
        [
            PYTHON, "-m", "huey.bin.huey_consumer", "peers.huey_tasks.huey",
            "--workers", str(processes), "--worker-type", kind, "--quiet",
        ]
    ]  # fmt: skip


def baseline_systems(dqueue: DqueueSystem) -> list[System]:
    """dqueue's backend once more, from the repository at ``BENCH_DQUEUE_BASELINE`` (a ``git
    worktree`` of main, say): a change measured against the code it changes, in one run."""
    root = os.environ.get("BENCH_DQUEUE_BASELINE")
    if not root:
        return []
    sources = os.pathsep.join([str(BENCH_DIR), f"{root}/packages/dqueue-core/src"])
    return [
        DqueueSystem(
            BASELINE, "dqueue", "dqueue", dqueue_workers,
            env={**dqueue.env, "PYTHONPATH": sources},
            config=f"{DQUEUE}, the code of {root}",
        )
    ]  # fmt: skip


def make_systems() -> list[System]:
    huey_config = (
        "`huey_consumer -w 1 -k thread` (1 process) / `-w 2 -k process` (2); SqliteStorage "
        "(WAL, `begin exclusive` per dequeue, polling with Huey's default backoff 0.1 s x 1.15 "
        "up to 10 s when empty), scheduler interval 1 s (its minimum); no bulk API"
    )
    dqueue = DqueueSystem(
        DQUEUE,
        "dqueue",
        "dqueue",
        dqueue_workers,
        env={
            "DQUEUE_BACKEND": "dqueue.backends.sqlite.SQLiteBackend",
            "DQUEUE_LOG_LEVEL": "WARNING",
        },
        config=dqueue_worker_description() + "; default settings (DQUEUE_PREFETCH=32, "
        "DQUEUE_POLL_INTERVAL=0.05), WAL, synchronous=NORMAL; bulk = `dqueue.bulk_enqueue()`",
        versions=("dqueue-core",),
    )
    return [
        dqueue,
        System(
            HUEY_NORMAL, "huey", "peer", huey_workers,
            env={"BENCH_HUEY_STORAGE": "sqlite-normal"},
            config=huey_config + "; `PRAGMA synchronous=NORMAL` added, as dqueue",
            versions=("huey",),
        ),
        System(
            HUEY_DEFAULT, "huey", "peer", huey_workers,
            env={"BENCH_HUEY_STORAGE": "sqlite"},
            config=huey_config + "; `SqliteHuey` defaults (synchronous=FULL)",
            versions=(),
        ),
        *baseline_systems(dqueue),
    ]  # fmt: skip


def evaluate_goals(results: Results) -> list[Goal]:
    if DQUEUE not in results.rounds:
        return []
    return [
        goal(
            f"{DQUEUE}: drain 2 procs ÷ 1 proc", scaling(results, DQUEUE), "ratio", "≥ 1.2x",
            lambda v: v >= 1.2,
        ),
        goal(
            f"{DQUEUE}: drain 1 proc ÷ {HUEY_NORMAL}",
            results.ratio(DQUEUE, HUEY_NORMAL, "drain_1"), "ratio", "≥ 1.5x",
            lambda v: v >= 1.5,
        ),
        goal(
            f"{DQUEUE}: drain 1 proc ÷ {HUEY_DEFAULT}",
            results.ratio(DQUEUE, HUEY_DEFAULT, "drain_1"), "ratio", "≥ 1.5x",
            lambda v: v >= 1.5,
        ),
        goal(
            f"{DQUEUE}: lateness p99", results.median(DQUEUE, "late_p99"), "ms", "< 20 ms",
            lambda v: v < 20,
        ),
    ]  # fmt: skip


class FreshDatabases:
    """A new database file for every measurement (and every producer session of the enqueue
    phase); ``remove`` deletes them all once no process uses them."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.serial = itertools.count(1)

    def env_for(self, system: System) -> dict[str, str]:
        path = str(self.root / f"bench-{next(self.serial)}.sqlite3")
        return base_env(BENCH_SQLITE_PATH=path, DQUEUE_SQLITE_PATH=path, **system.env)

    def remove(self) -> None:
        for path in self.root.glob("bench-*.sqlite3*"):
            path.unlink(missing_ok=True)


def main(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_common_arguments(parser, DEFAULTS)
    args = parser.parse_args(argv)
    exit_cleanly_on_signals()
    finish_arguments(args, DEFAULTS, QUICK)
    results = Results()
    started = time.perf_counter()
    systems = select(make_systems(), args.only)
    # Local disk, not a tmpfs: SQLite's durability costs are part of what is measured.
    with workdir("dqueue-bench-sqlite-") as tmp:
        databases = FreshDatabases(tmp)
        logdir = tmp / "logs"
        logdir.mkdir()
        ctx = Context(
            args=args,
            results=results,
            probe=Probe(tmp),
            logdir=logdir,
            env_for=databases.env_for,
            reset=databases.remove,
        )
        skipped = run_rounds(systems, ctx)
        databases.remove()
    report(
        title="SQLite benchmark",
        script="bench/bench_sqlite.py",
        argv=argv,
        args=args,
        systems=systems,
        results=results,
        goals=evaluate_goals(results),
        skipped=skipped,
        extra_versions={"sqlite": sqlite3.sqlite_version},
        elapsed_s=time.perf_counter() - started,
    )
    return 1 if results.errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
