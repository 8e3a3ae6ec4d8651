"""Introspection and control of a SQLite dqueue database, as functions over a connection.

:class:`~dqueue.backends.sqlite.SQLiteBackend` runs each of them inside one read snapshot or
one ``BEGIN IMMEDIATE`` transaction; none of them commits.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Final

from ..errors import DecodeError
from ..job import decode_job, encode_job
from . import lifecycle
from .base import DeadLetter, QueueCounts
from .sqlite_records import FREE_UNIQUE, dead_letter_from_row
from .sqlite_schema import DELAYED, LEASED, READY

__all__ = [
    "LATENESS_SAMPLES",
    "add_lateness",
    "clear_queue",
    "count_queue",
    "deduplicate_queue",
    "list_dead",
    "purge_dead",
    "recent_lateness",
    "requeue_dead",
    "trim_lateness",
]

#: Lateness samples kept per queue for ``status``.
LATENESS_SAMPLES: Final = 1000

_WAITING: Final = f"queue = ? AND state IN ({READY}, {DELAYED})"
_COUNTS: Final = (
    "SELECT"
    f" (SELECT count(*) FROM jobs WHERE queue = :queue AND state = {READY}),"
    f" (SELECT count(*) FROM jobs WHERE queue = :queue AND state = {DELAYED} AND due_at <= :now),"
    f" (SELECT count(*) FROM jobs WHERE queue = :queue AND state = {DELAYED} AND due_at > :now),"
    f" (SELECT count(*) FROM jobs WHERE queue = :queue AND state = {LEASED}),"
    " (SELECT count(*) FROM dead WHERE queue = :queue),"
    " (SELECT paused_until FROM queues WHERE name = :queue)"
)
_INSERT_READY: Final = (
    "INSERT OR IGNORE INTO jobs (id, queue, state, priority, due_at, attempt, unique_key, payload)"
    f" VALUES (?, ?, {READY}, ?, ?, 0, ?, ?)"
)


def count_queue(conn: sqlite3.Connection, queue: str, now: float) -> QueueCounts:
    """Jobs of ``queue`` per state (a delayed job that is due counts as ready)."""
    ready, due, delayed, in_flight, dead, paused = conn.execute(
        _COUNTS, {"queue": queue, "now": now}
    ).fetchone()
    return QueueCounts(
        queue=queue,
        ready=ready + due,
        delayed=delayed,
        in_flight=in_flight,
        dead=dead,
        paused_until=paused if paused is not None and paused > now else None,
        recent_lateness=recent_lateness(conn, queue),
    )


def recent_lateness(conn: sqlite3.Connection, queue: str) -> tuple[float, ...]:
    """The newest ``LATENESS_SAMPLES`` lateness samples of ``queue``, newest last."""
    batches: list[list[float]] = []
    found = 0
    rows = conn.execute("SELECT samples FROM lateness WHERE queue = ? ORDER BY seq DESC", (queue,))
    for (text,) in rows:
        try:
            batch = [float(value) for value in json.loads(text)]
        except (ValueError, TypeError):
            continue  # a damaged row costs its samples, not the status page
        batches.append(batch)
        found += len(batch)
        if found >= LATENESS_SAMPLES:
            break
    samples = [value for batch in reversed(batches) for value in batch]
    return tuple(samples[-LATENESS_SAMPLES:])


def add_lateness(conn: sqlite3.Connection, queue: str, samples: Sequence[float]) -> None:
    """Keep the lateness samples of one settled batch."""
    conn.execute(
        "INSERT INTO lateness (queue, samples) VALUES (?, ?)", (queue, json.dumps(list(samples)))
    )


def trim_lateness(conn: sqlite3.Connection, queue: str) -> None:
    """Drop lateness rows older than the newest ``LATENESS_SAMPLES`` (each holds one or more)."""
    conn.execute(
        "DELETE FROM lateness WHERE queue = :queue AND seq <= (SELECT seq FROM lateness"
        " WHERE queue = :queue ORDER BY seq DESC LIMIT 1 OFFSET :keep)",
        {"queue": queue, "keep": LATENESS_SAMPLES},
    )


def clear_queue(conn: sqlite3.Connection, queue: str) -> int:
    """Delete the ready and delayed jobs of ``queue``, freeing their unique keys."""
    keyed = conn.execute(
        f"SELECT unique_key, id FROM jobs WHERE {_WAITING} AND unique_key IS NOT NULL", (queue,)
    ).fetchall()
    conn.executemany(FREE_UNIQUE, keyed)
    return int(conn.execute(f"DELETE FROM jobs WHERE {_WAITING}", (queue,)).rowcount)


def deduplicate_queue(conn: sqlite3.Connection, queue: str) -> tuple[int, int]:
    """Delete waiting jobs identical to an older waiting one; return the counts before and after.

    A payload that does not decode is left for ``reserve`` to dead-letter with the reason.
    """
    rows = conn.execute(
        "SELECT seq, id, unique_key, CAST(payload AS BLOB) FROM jobs"
        f" WHERE {_WAITING} ORDER BY seq",
        (queue,),
    ).fetchall()
    keys = {job_id: unique_key for _, job_id, unique_key, _ in rows}
    twins = lifecycle.duplicates((job_id, raw) for _, job_id, _, raw in rows)
    conn.executemany("DELETE FROM jobs WHERE id = ?", [(job_id,) for job_id in twins])
    conn.executemany(FREE_UNIQUE, [(keys[job_id], job_id) for job_id in twins if keys[job_id]])
    return len(rows), len(rows) - len(twins)


def list_dead(conn: sqlite3.Connection, queue: str, limit: int) -> list[DeadLetter]:
    """The newest ``limit`` dead letters of ``queue``, newest first."""
    rows = conn.execute(
        "SELECT payload, failure, died_at, raw FROM dead WHERE queue = ? ORDER BY seq DESC LIMIT ?",
        (queue, limit),
    ).fetchall()
    return [dead_letter_from_row(queue, *row) for row in rows]


def _chosen_dead(
    conn: sqlite3.Connection, queue: str, job_ids: Sequence[str] | None
) -> list[tuple[int, str]]:
    """``(seq, payload)`` of decodable dead letters: all of ``queue``, or those ids."""
    if job_ids is None:
        query = "SELECT seq, payload FROM dead WHERE queue = ? AND raw IS NULL ORDER BY seq"
        return conn.execute(query, (queue,)).fetchall()
    chosen: list[tuple[int, str]] = []
    for job_id in dict.fromkeys(job_ids):
        row = conn.execute(
            "SELECT seq, payload FROM dead WHERE queue = ? AND id = ? AND raw IS NULL",
            (queue, job_id),
        ).fetchone()
        if row is not None:
            chosen.append(row)
    return chosen


def requeue_dead(conn: sqlite3.Connection, queue: str, job_ids: Sequence[str] | None) -> int:
    """Put dead letters back on ``queue``, ready, with fresh attempts; return how many.

    Undecodable letters stay where they are: there is nothing to run.
    """
    requeued = 0
    for seq, payload in _chosen_dead(conn, queue, job_ids):
        try:
            job = lifecycle.revived(decode_job(payload))
        except DecodeError:
            continue
        conn.execute(
            _INSERT_READY,
            (job.id, queue, job.priority, job.due_at, job.unique_key, encode_job(job)),
        )
        conn.execute("DELETE FROM dead WHERE seq = ?", (seq,))
        requeued += 1
    return requeued


def purge_dead(conn: sqlite3.Connection, queue: str, job_ids: Sequence[str] | None) -> int:
    """Delete dead letters of ``queue`` (all, or those ids); return how many."""
    if job_ids is None:
        return int(conn.execute("DELETE FROM dead WHERE queue = ?", (queue,)).rowcount)
    delete = "DELETE FROM dead WHERE queue = ? AND id = ?"
    return sum(int(conn.execute(delete, (queue, i)).rowcount) for i in dict.fromkeys(job_ids))
