"""The tasks of ``dqueue demo``: they record each run in a small SQLite file of their own.

They live in an importable module so that the demo's worker processes can import them. Each run
writes one row (which job, when it started, when it was due, whether it succeeded), so that the
demo can check that every job ran exactly once and measure lateness from the tasks' side.
"""

from __future__ import annotations

import os
import sqlite3
import time

from .task import task

__all__ = ["always_fails", "connect_effects", "fails_once", "work"]

_connections: dict[tuple[str, int], sqlite3.Connection] = {}

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS runs ("
    " n INTEGER NOT NULL, kind TEXT NOT NULL, ok INTEGER NOT NULL,"
    " started_at REAL NOT NULL, due_at REAL NOT NULL)"
)


def connect_effects(path: str) -> sqlite3.Connection:
    """This process's connection to the effects file (created on first use)."""
    key = (path, os.getpid())
    conn = _connections.get(key)
    if conn is None:
        conn = sqlite3.connect(path, timeout=30.0, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=OFF")  # demo bookkeeping: speed over durability
        conn.execute(_SCHEMA)
        _connections[key] = conn
    return conn


def _record(path: str, n: int, kind: str, ok: bool, started_at: float, due_at: float) -> None:
    connect_effects(path).execute(
        "INSERT INTO runs (n, kind, ok, started_at, due_at) VALUES (?, ?, ?, ?, ?)",
        (n, kind, int(ok), started_at, due_at),
    )


def _busy_work(n: int) -> int:
    # A little CPU, like a task that renders something small.
    return sum(i * i for i in range(200 + n % 100))


@task(queue="demo", name="dqueue.demo_tasks.work", max_attempts=3)
def work(n: int, due_at: float, effects: str) -> int:
    """An ordinary job: a little work, then its run is recorded."""
    started = time.time()
    result = _busy_work(n)
    _record(effects, n, "work", True, started, due_at)
    return result


class FlakyError(Exception):
    """The first attempt of a ``fails_once`` job."""


@task(queue="demo", name="dqueue.demo_tasks.fails_once", max_attempts=3, retry_backoff=0.2)
def fails_once(n: int, due_at: float, effects: str) -> None:
    """Fails on its first attempt (as a flaky network call would) and succeeds on the next."""
    started = time.time()
    conn = connect_effects(effects)
    earlier = conn.execute("SELECT count(*) FROM runs WHERE n = ?", (n,)).fetchone()[0]
    if not earlier:
        _record(effects, n, "fails_once", False, started, due_at)
        raise FlakyError(f"job {n} fails on its first attempt")
    _record(effects, n, "fails_once", True, started, due_at)


class DoomedError(Exception):
    """Every attempt of an ``always_fails`` job."""


@task(queue="demo", name="dqueue.demo_tasks.always_fails", max_attempts=2, retry_backoff=0.2)
def always_fails(n: int, due_at: float, effects: str) -> None:
    """Fails every time, so that it ends in the dead letters after its attempts."""
    _record(effects, n, "always_fails", False, time.time(), due_at)
    raise DoomedError(f"job {n} always fails")
