"""Settling and lease recovery of the SQLite store, as functions over a connection.

What each step means comes from :mod:`dqueue.backends.lifecycle`; these functions only write
it to the ``jobs``, ``uniques``, ``dead`` and ``results`` tables, inside the caller's
``BEGIN IMMEDIATE`` transaction. The ``attempt`` column is the one count of runs.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Sequence
from typing import Final

from ..errors import DecodeError
from ..job import Job, encode_job
from . import lifecycle
from .base import Outcome, OutcomeKind, StoreOptions
from .sqlite_records import FREE_UNIQUE, bury, bury_undecodable, record_result, trim_dead
from .sqlite_schema import DELAYED, LEASED, READY

__all__ = [
    "ack_plain",
    "apply_outcome",
    "bury_claimed",
    "decode_leased",
    "finish",
    "is_plain_ack",
    "recover_expired",
]

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
#: A batch's plain acks in one statement: at most this many jobs per statement (two variables
#: each, within SQLite's oldest limit of 999).
_ACKS_PER_STATEMENT: Final = 400
_DELETE_CLAIMED: Final = f"DELETE FROM jobs WHERE seq = ? AND state = {LEASED} AND worker_id = ?"


@functools.cache
def _delete_owned_many(count: int) -> str:
    """Delete ``count`` jobs, each if leased to the worker (the last ``?``) at its attempt.

    A join on the ``id`` index: ``(id, attempt) IN (VALUES ...)`` would scan every lease.
    """
    rows = ", ".join(["(?, ?)"] * count)
    return (
        f"WITH owned (id, attempt) AS (VALUES {rows}) DELETE FROM jobs WHERE seq IN"
        " (SELECT jobs.seq FROM owned JOIN jobs ON jobs.id = owned.id"
        f" WHERE jobs.attempt = owned.attempt AND jobs.state = {LEASED} AND jobs.worker_id = ?)"
        " RETURNING id"
    )


@functools.cache
def _remember_many(count: int) -> str:
    """Remember ``count`` finished ids (``?, ?`` each: the id and when to forget it)."""
    return "INSERT OR REPLACE INTO finished (id, expires_at) VALUES " + ", ".join(
        ["(?, ?)"] * count
    )


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


def bury_claimed(
    conn: sqlite3.Connection,
    queue: str,
    worker_id: str,
    row: tuple[int, str, bytes, str],
    now: float,
) -> bool:
    """Dead-letter a ``(seq, id, payload, reason)`` row claimed by ``worker_id`` that is not a job.

    Reserve decodes after its transaction; this second one removes the row if it is still the
    worker's (``False`` if not: a ``clear`` took it meanwhile).
    """
    seq, job_id, raw, reason = row
    if conn.execute(_DELETE_CLAIMED, (seq, worker_id)).rowcount == 0:
        return False
    bury_undecodable(conn, queue, job_id, raw, reason, now)
    return True


def is_plain_ack(outcome: Outcome) -> bool:
    """An ACK with nothing to write but the row's removal and the id (:func:`ack_plain`)."""
    job = outcome.job
    return outcome.kind is OutcomeKind.ACK and job.result_ttl is None and job.unique_key is None


def ack_plain(
    conn: sqlite3.Connection,
    outcomes: Sequence[Outcome],
    worker_id: str,
    now: float,
    options: StoreOptions,
) -> set[str]:
    """Apply :func:`is_plain_ack` outcomes in a few statements; return the ids acked.

    What :func:`apply_outcome` does for each (:func:`lifecycle.settled` of such an ACK finishes
    the job and keeps no record), without a statement per job: the write lock is held for less.
    """
    acked: set[str] = set()
    expires = now + options.id_retention_s
    for start in range(0, len(outcomes), _ACKS_PER_STATEMENT):
        chunk = outcomes[start : start + _ACKS_PER_STATEMENT]
        owners: list[str | int] = []
        for outcome in chunk:
            owners += (outcome.job.id, outcome.job.attempt)
        sql = _delete_owned_many(len(chunk))
        done = [row[0] for row in conn.execute(sql, (*owners, worker_id)).fetchall()]
        if done and options.id_retention_s > 0:
            remembered: list[str | float] = []
            for job_id in done:
                remembered += (job_id, expires)
            conn.execute(_remember_many(len(done)), remembered)
        acked.update(done)
    return acked


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
