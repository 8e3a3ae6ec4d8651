"""``dqueue demo``: thousands of delayed jobs through the embedded SQLite backend, end to end.

It needs nothing but Python. It writes a settings file and a SQLite database into a temporary
directory (or ``--path``), enqueues ``--jobs`` jobs of :mod:`dqueue.demo_tasks` (half of them
due at once, a backlog; the others spread over ``--max-delay`` seconds starting 1 s from now),
runs a :class:`~dqueue.runner.Runner` with ``--workers`` worker processes, shows progress, and
ends with a summary: jobs done, throughput (how fast the backlog drained), lateness of the
delayed jobs (start minus due time, as the tasks measured it) at p50 and p99, failures retried
and jobs dead-lettered. About 2% of the jobs fail once and are retried; a handful always fail
and end in the dead letters. It exits 0 when every job is accounted for: each succeeded exactly
once or is a dead letter.
"""

from __future__ import annotations

import contextlib
import random
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TextIO

from . import demo_tasks
from .backends import get_backend
from .backends.base import Backend, percentile
from .clock import to_datetime
from .job import Job
from .pool import WorkerSlot
from .runner import Runner, python_worker_command
from .settings import configure
from .task import Task

__all__ = ["run_demo"]

QUEUE = "demo"
_FAILS_ONCE_SHARE = 0.02
_DUE_NOW_SHARE = 0.5  # a backlog that shows throughput; the rest show punctuality
_DELAY_START_S = 1.0  # delayed jobs come due once the backlog has had time to drain
_ALWAYS_FAILS = 5
_PROGRESS_EVERY_S = 2.0  # when stdout is not a terminal
_WORKER_START_S = 1.0


@contextlib.contextmanager
def _database(path: str | None) -> Iterator[Path]:
    if path is not None:
        yield Path(path).resolve()
        return
    with tempfile.TemporaryDirectory(prefix="dqueue-demo-") as directory:
        yield Path(directory) / "queue.sqlite3"


def _write_config(database: Path, workers: int) -> Path:
    config = database.parent / "demo_settings.py"
    config.write_text(
        "# Written by `dqueue demo`.\n"
        'DQUEUE_BACKEND = "dqueue.backends.sqlite.SQLiteBackend"\n'
        f"DQUEUE_SQLITE_PATH = {str(database)!r}\n"
        f"DQUEUE_WORKERS = {{{QUEUE!r}: {workers}}}\n"
        'DQUEUE_TASKS = ["dqueue.demo_tasks"]\n'
        "DQUEUE_MIDDLEWARE = []\n"
        "DQUEUE_LEASE_SECONDS = 15\n"
        "DQUEUE_SHUTDOWN_TIMEOUT = 10\n",
        encoding="utf-8",
    )
    return config


def _jobs(count: int, max_delay_s: float, effects: str) -> list[Job]:
    now, rng = time.time(), random.Random()
    doomed = set(rng.sample(range(count), min(_ALWAYS_FAILS, count)))
    jobs = []
    for n in range(count):
        fn: Task[..., Any]
        if n in doomed:
            fn = demo_tasks.always_fails
        elif rng.random() < _FAILS_ONCE_SHARE:
            fn = demo_tasks.fails_once
        else:
            fn = demo_tasks.work
        due = now
        if rng.random() >= _DUE_NOW_SHARE:
            due += rng.uniform(_DELAY_START_S, _DELAY_START_S + max_delay_s)
            fn = fn.using(run_after=to_datetime(due))
        jobs.append(fn.build_job((n, due, effects), {}))
    return jobs


def _succeeded(effects: str) -> int:
    row = (
        demo_tasks.connect_effects(effects)
        .execute("SELECT count(DISTINCT n) FROM runs WHERE ok = 1")
        .fetchone()
    )
    return int(row[0])


def _summary(
    effects: str, jobs: int, dead: int, elapsed_s: float, workers: int, max_delay_s: float
) -> tuple[str, bool]:
    """The closing report, and whether every job is accounted for.

    Accounted for: each job succeeded exactly once or is in the dead letters, as planned.
    """
    conn = demo_tasks.connect_effects(effects)
    succeeded = _succeeded(effects)
    twice = conn.execute("SELECT count(*) FROM runs WHERE ok = 1").fetchone()[0] - succeeded
    retried = conn.execute(
        "SELECT count(DISTINCT n) FROM runs WHERE kind = 'fails_once' AND ok = 0"
    ).fetchone()[0]
    lateness = [
        max(row[0], 0.0)
        # Jobs of the backlog wait their turn by design; lateness is for the delayed ones.
        for row in conn.execute(
            "SELECT min(started_at) - min(due_at) FROM runs"
            " WHERE due_at > (SELECT min(due_at) FROM runs) GROUP BY n"
        )
    ]
    # The jobs due at once form a backlog: how fast the workers drained it is the throughput.
    backlog, first, last = conn.execute(
        "SELECT count(DISTINCT n), min(started_at), max(started_at) FROM runs"
        " WHERE due_at = (SELECT min(due_at) FROM runs)"
    ).fetchone()
    drain = f"{backlog / (last - first):,.0f} jobs/s" if backlog and last > first else "-"
    p50, p99 = (percentile(lateness, q) for q in (0.5, 0.99))
    expected_dead = min(_ALWAYS_FAILS, jobs)
    accounted_for = succeeded + dead == jobs and twice == 0 and dead == expected_dead

    def ms(value: float | None) -> str:
        return "-" if value is None else f"{value * 1000:.1f} ms"

    lines = [
        f"jobs enqueued     {jobs}: {backlog} due at once, the others "
        f"{_DELAY_START_S:g}-{_DELAY_START_S + max_delay_s:g} s later; {workers} worker processes",
        f"jobs done         {succeeded} succeeded, {twice} ran twice",
        f"throughput        {drain} draining the {backlog} jobs due at once "
        f"({elapsed_s:.1f} s in all)",
        f"lateness          p50 {ms(p50)}, p99 {ms(p99)} (delayed jobs: start minus due time)",
        f"failures retried  {retried} jobs failed once and then succeeded",
        f"dead letters      {dead} (expected {expected_dead})",
        "result            "
        + ("every job is accounted for" if accounted_for else "JOBS ARE MISSING"),
    ]
    return "\n".join(lines), accounted_for


def _what_next(config: Path, *, kept: bool) -> str:
    """Where the store is now (kept or deleted, said plainly) and the command to try next."""
    if not kept:
        return (
            "store             deleted with its temporary folder; `dqueue demo --path "
            "demo.sqlite3` keeps it\n"
            "next              dqueue demo --path demo.sqlite3, then "
            f"dqueue --config demo_settings.py status {QUEUE}"
        )
    return (
        f"store             kept: its settings are in {config}\n"
        f"next              dqueue --config {config} status {QUEUE}   "
        f"(and: dead list {QUEUE})"
    )


def run_demo(
    *,
    jobs: int = 3000,
    workers: int = 4,
    max_delay_s: float = 3.0,
    path: str | None = None,
    log_level: str = "ERROR",
    out: TextIO | None = None,
    deadline_s: float = 300.0,
) -> int:
    """Run the demo; return 0 when every job is accounted for, 1 otherwise."""
    stream = out if out is not None else sys.stdout
    with _database(path) as database:
        effects = str(database.with_name(database.name + ".effects"))
        for stale in (database, Path(effects)):
            for suffix in ("", "-wal", "-shm"):
                Path(f"{stale}{suffix}").unlink(missing_ok=True)
        config = _write_config(database, workers)
        settings = configure(config_file=config)
        backend = get_backend(QUEUE, settings=settings)
        demo_tasks.connect_effects(effects)
        print(f"dqueue demo: {jobs} jobs, {workers} workers, SQLite file {database}", file=stream)
        runner = Runner(
            settings,
            [WorkerSlot(QUEUE, number) for number in range(1, workers + 1)],
            worker_command=python_worker_command(
                ["--config", str(config), "--log-level", log_level]
            ),
            description="demo",
        )
        thread = threading.Thread(target=runner.run, name="dqueue-demo-runner", daemon=True)
        thread.start()
        try:
            # Let the worker processes start (import Python and dqueue) before the first jobs
            # fall due, so that lateness measures the queue rather than interpreter start-up.
            time.sleep(_WORKER_START_S)
            planned = _jobs(jobs, max_delay_s, effects)
            started = time.monotonic()
            backend.enqueue_many(planned)
            finished = _wait_until_done(stream, backend, effects, jobs, started + deadline_s)
        finally:
            runner.stop()
            thread.join()
        elapsed = time.monotonic() - started
        dead = backend.counts(QUEUE).dead
        summary, accounted_for = _summary(effects, jobs, dead, elapsed, workers, max_delay_s)
        print(summary, file=stream)
        print(_what_next(config, kept=path is not None), file=stream)
        if not finished:
            print(f"dqueue demo: gave up after {deadline_s:g}s", file=stream)
        return 0 if finished and accounted_for else 1


def _wait_until_done(
    stream: TextIO, backend: Backend, effects: str, jobs: int, deadline: float
) -> bool:
    """Show progress until the queue is empty (``True``) or the deadline passes (``False``).

    On a terminal the progress line is rewritten in place; elsewhere one line is printed every
    few seconds, and a last one when done.
    """
    last_line_at = time.monotonic()
    while time.monotonic() < deadline:
        counts = backend.counts(QUEUE)
        done = counts.total == 0
        succeeded = _succeeded(effects)
        # The words of `dqueue status`; finished = succeeded + dead, so the last line adds up.
        line = (
            f"finished {succeeded + counts.dead}/{jobs} (succeeded {succeeded}, dead "
            f"{counts.dead})  ready {counts.ready}  delayed {counts.delayed}"
            f"  in flight {counts.in_flight}"
        )
        if stream.isatty():
            stream.write("\r" + line.ljust(78) + ("\n" if done else ""))
            stream.flush()
        elif done or time.monotonic() - last_line_at >= _PROGRESS_EVERY_S:
            print(line, file=stream)
            last_line_at = time.monotonic()
        if done:
            return True
        time.sleep(0.2)
    return False
