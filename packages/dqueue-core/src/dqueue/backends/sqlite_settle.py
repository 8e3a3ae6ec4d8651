"""Settling and lease recovery of the SQLite store, as functions over a connection.

What each step means comes from :mod:`dqueue.backends.lifecycle`; these functions only write
it to the ``jobs``, ``uniques``, ``dead`` and ``results`` tables, inside the caller's
``BEGIN IMMEDIATE`` transaction. The ``attempt`` column is the one count of runs.
"""

from __future__ import annotations

import sqlite3
from typing import Final

from ..errors import DecodeError
from ..job import Job, encode_job
from . import lifecycle
from .base import Outcome, OutcomeKind, StoreOptions
from .sqlite_records import FREE_UNIQUE, bury, bury_undecodable, record_result, trim_dead
from .sqlite_schema import DELAYED, LEASED, READY

__all__ = ["apply_outcome", "decode_leased", "finish", "recover_expired"]

_OWNED: Final = f"id = ? AND state = {LEASED} AND worker_id = ? AND attempt = ?"
_DELETE_OWNED: Final = f"DELETE FROM jobs WHERE {_OWNED}"
# A job stored again leaves its lease, and the progress its run reported, behind.
_UNLEASED: Final = "worker_id = NULL, lease_until = NULL, progress = NULL"
_RETRY: Final = f"UPDATE jobs SET state = ?, due_at = ?, payload = ?, {_UNLEASED} WHERE {_OWNED}"
_RELEASE: Final = f"UPDATE jobs SET state = ?, attempt = attempt - 1, {_UNLEASED} WHERE {_OWNED}"
_CANCELLED: Final = f"SELECT cancelled FROM jobs WHERE {_OWNED}"
_EXPIRED: Final = (
    "SELECT seq, id, attempt, worker_id, cancelled, CAST(payload AS BLOB) FROM jobs"
    f" WHERE queue = ? AND state = {LEASED} AND lease_until <= ?"
)
_REMEMBER: Final = "INSERT OR REPLACE INTO finished (id, expires_at) VALUES (?, ?)"
_REQUEUE: Final = f"UPDATE jobs SET state = ?, {_UNLEASED} WHERE seq = ?"


def decode_leased(
    conn: sqlite3.Connection, queue: str, row: tuple[int, str, int, bytes], now: float
) -> Job | None:
    """The job of a leased ``(seq, id, attempt, payload)`` row, its runs taken from ``attempt``.

    A row that is not a job envelope (or names another id or queue than its row's) goes to the
    dead letters with the reason: ``None``.
    """
    seq, job_id, attempt, raw = row
    try:
        # The stored payload keeps the attempt it was enqueued with; the column counts the runs.
        return lifecycle.decode_stored(raw, job_id=job_id, queue=queue, attempt=attempt)
    except DecodeError as exc:
        conn.execute("DELETE FROM jobs WHERE seq = ?", (seq,))
        bury_undecodable(conn, queue, job_id, raw, str(exc), now)
        return None


def apply_outcome(
    conn: sqlite3.Connection, outcome: Outcome, worker_id: str, now: float, options: StoreOptions
) -> bool:
    """Apply one outcome if ``worker_id`` still holds the lease; ``False`` if it doesn't.

    An outcome the store could not write is applied as :func:`lifecycle.storable` turns it.
    """
    outcome = lifecycle.storable(outcome, now)
    job = outcome.job
    owner = (job.id, worker_id, job.attempt)
    cancelled = False
    if outcome.kind in (OutcomeKind.RETRY, OutcomeKind.RELEASE):  # the steps a mark changes
        row = conn.execute(_CANCELLED, owner).fetchone()
        if row is None:
            return False
        cancelled = bool(row[0])
    step = lifecycle.settled(outcome, now, cancelled=cancelled)
    if not step.stores_again:
        if conn.execute(_DELETE_OWNED, owner).rowcount == 0:
            return False
    elif outcome.kind is OutcomeKind.RETRY:
        again = step.job
        state = DELAYED if again.due_at > now else READY
        if conn.execute(_RETRY, (state, again.due_at, encode_job(again), *owner)).rowcount == 0:
            return False
    else:
        state = DELAYED if job.due_at > now else READY
        if conn.execute(_RELEASE, (state, *owner)).rowcount == 0:
            return False
    finish(conn, step, now, options)
    return True


def finish(
    conn: sqlite3.Connection, step: lifecycle.Step, now: float, options: StoreOptions
) -> None:
    """The rest of a step whose job row is already written: unique key, id, dead letter, record."""
    job = step.job
    if step.finishes and job.unique_key is not None:
        conn.execute(FREE_UNIQUE, (job.unique_key, job.id))
    if step.finishes and options.id_retention_s > 0:
        conn.execute(_REMEMBER, (job.id, now + options.id_retention_s))
    if step.buries and step.failure is not None:
        bury(conn, job, step.failure, now)
    record_result(conn, step, now)


def recover_expired(conn: sqlite3.Connection, now: float, options: StoreOptions) -> int:
    """Requeue (attempt counted) or bury every job whose lease ran out; return how many.

    Also drops expired result records, unique keys and finished ids.
    """
    recovered = 0
    buried: set[str] = set()
    for (queue,) in conn.execute("SELECT name FROM queues").fetchall():
        expired = conn.execute(_EXPIRED, (queue, now)).fetchall()
        for seq, job_id, attempt, worker_id, cancelled, raw in expired:
            recovered += 1
            job = decode_leased(conn, queue, (seq, job_id, attempt, raw), now)
            if job is None:
                buried.add(queue)
                continue
            step = lifecycle.lease_expired(job, worker_id, now, cancelled=bool(cancelled))
            if step.stores_again:
                conn.execute(_REQUEUE, (READY, seq))
            else:
                conn.execute("DELETE FROM jobs WHERE seq = ?", (seq,))
            if step.buries:
                buried.add(queue)
            finish(conn, step, now, options)
    if buried:
        trim_dead(conn, buried, options.dead_letter_limit)
    conn.execute("DELETE FROM results WHERE expires_at <= ?", (now,))
    conn.execute("DELETE FROM uniques WHERE expires_at <= ?", (now,))
    conn.execute("DELETE FROM finished WHERE expires_at <= ?", (now,))
    return recovered
