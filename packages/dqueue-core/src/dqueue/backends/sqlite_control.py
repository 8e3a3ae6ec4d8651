"""Introspection and control of a SQLite dqueue database: the ``QueueControl`` half of the store.

:class:`~dqueue.backends.sqlite.SQLiteBackend` inherits it. Each method runs in one read
snapshot or one ``BEGIN IMMEDIATE`` transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Final

from ..errors import DecodeError
from ..job import decode_job, encode_job
from . import lifecycle
from .base import DeadLetter, JobResult, QueueCounts
from .lateness import LatenessSample
from .sqlite_records import FREE_UNIQUE, dead_letter_from_row, result_from_json
from .sqlite_schema import DELAYED, LEASED, READY
from .sqlite_store import SQLiteStore

__all__ = ["LATENESS_SAMPLES", "PAUSED", "SQLiteControl"]

#: Lateness samples kept per queue for ``status``.
LATENESS_SAMPLES: Final = 1000
#: Lateness rows (one per settled batch) are trimmed every this many rows per queue.
_TRIM_EVERY: Final = 100

PAUSED: Final = "SELECT paused_until FROM queues WHERE name = ?"
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


class SQLiteControl(SQLiteStore):
    """Pauses, counts, clearing, deduplication, dead letters and results of a SQLite file."""

    def queues(self) -> list[str]:
        """Every queue that holds or held jobs (or was paused), sorted."""
        rows = self._read(
            lambda conn: conn.execute("SELECT name FROM queues ORDER BY name").fetchall()
        )
        return [row[0] for row in rows]

    def counts(self, queue: str) -> QueueCounts:
        """Jobs of ``queue`` per state, its pause, and recent lateness (newest last).

        A delayed job that is due counts as ready.
        """
        now = self.clock.time()

        def count(conn: sqlite3.Connection) -> QueueCounts:
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
                recent_lateness=_recent_lateness(conn, queue),
            )

        return self._read(count)

    def _add_lateness(
        self, conn: sqlite3.Connection, samples: list[tuple[str, LatenessSample]]
    ) -> None:
        """Keep the lateness samples of one settled batch: one row per queue."""
        by_queue: dict[str, list[str]] = {}
        for queue, sample in samples:
            by_queue.setdefault(queue, []).append(sample.encode())
        for queue, batch in by_queue.items():
            conn.execute(
                "INSERT INTO lateness (queue, samples) VALUES (?, ?)", (queue, json.dumps(batch))
            )
            rows = self._rows_since_trim.get(queue, 0) + 1
            self._rows_since_trim[queue] = rows
            if rows >= _TRIM_EVERY:  # trimming walks LATENESS_SAMPLES index entries
                self._rows_since_trim[queue] = 0
                # Each row holds one or more samples: keep the newest LATENESS_SAMPLES rows.
                conn.execute(
                    "DELETE FROM lateness WHERE queue = :queue AND seq <= (SELECT seq FROM"
                    " lateness WHERE queue = :queue ORDER BY seq DESC LIMIT 1 OFFSET :keep)",
                    {"queue": queue, "keep": LATENESS_SAMPLES},
                )

    def pause(self, queue: str, until: float | None) -> None:
        """Stop handing out jobs of ``queue`` until ``until`` (``None``: resume), everywhere."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO queues (name, paused_until) VALUES (?, ?)"
                " ON CONFLICT (name) DO UPDATE SET paused_until = excluded.paused_until",
                (queue, until),
            )
        self._known_queues.add(queue)
        self._wakeup.notify()

    def resume(self, queue: str) -> None:
        """Hand out jobs of ``queue`` again."""
        self.pause(queue, None)

    def paused_until(self, queue: str) -> float | None:
        """When the pause of ``queue`` ends, or ``None`` when it is not paused."""
        row = self._read(lambda conn: conn.execute(PAUSED, (queue,)).fetchone())
        if row is None or row[0] is None or row[0] <= self.clock.time():
            return None
        return float(row[0])

    def clear(self, queue: str, *, limit: int | None = None) -> int:
        """Delete ready and delayed jobs of ``queue``, freeing their unique keys; how many.

        ``limit``: at most that many, in the order the planner finds them.
        """
        with self._write() as conn:
            if limit is None:
                keyed = conn.execute(
                    f"SELECT unique_key, id FROM jobs WHERE {_WAITING} AND unique_key IS NOT NULL",
                    (queue,),
                ).fetchall()
                conn.executemany(FREE_UNIQUE, keyed)
                return int(conn.execute(f"DELETE FROM jobs WHERE {_WAITING}", (queue,)).rowcount)
            rows = conn.execute(
                f"SELECT seq, unique_key, id FROM jobs WHERE {_WAITING} LIMIT ?",
                (queue, limit),
            ).fetchall()
            conn.executemany(FREE_UNIQUE, [(key, job_id) for _, key, job_id in rows if key])
            conn.executemany("DELETE FROM jobs WHERE seq = ?", [(seq,) for seq, _, _ in rows])
            return len(rows)

    def deduplicate(self, queue: str) -> tuple[int, int]:
        """Remove waiting jobs identical (task, args, kwargs) to an older waiting one.

        A payload that does not decode is left for ``reserve`` to dead-letter with the reason.
        """
        with self._write() as conn:
            rows = conn.execute(
                "SELECT seq, id, unique_key, CAST(payload AS BLOB) FROM jobs"
                f" WHERE {_WAITING} ORDER BY seq",
                (queue,),
            ).fetchall()
            keys = {job_id: unique_key for _, job_id, unique_key, _ in rows}
            twins = lifecycle.duplicates((job_id, raw) for _, job_id, _, raw in rows)
            conn.executemany("DELETE FROM jobs WHERE id = ?", [(job_id,) for job_id in twins])
            conn.executemany(FREE_UNIQUE, [(keys[i], i) for i in twins if keys[i]])
            return len(rows), len(rows) - len(twins)

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters of ``queue``, newest first."""
        rows = self._read(
            lambda conn: conn.execute(
                "SELECT payload, failure, died_at, raw FROM dead WHERE queue = ?"
                " ORDER BY seq DESC LIMIT ?",
                (queue, limit),
            ).fetchall()
        )
        return [dead_letter_from_row(queue, *row) for row in rows]

    def retry_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, or those ids) back on ``queue`` with fresh attempts.

        Undecodable letters stay where they are: there is nothing to run.
        """
        requeued = 0
        with self._write() as conn:
            for seq, payload in _chosen_dead(conn, queue, job_ids):
                try:
                    job = lifecycle.revived(decode_job(payload), self.clock.time())
                except DecodeError:
                    continue
                conn.execute(
                    _INSERT_READY,
                    (job.id, queue, job.priority, job.due_at, job.unique_key, encode_job(job)),
                )
                conn.execute("DELETE FROM dead WHERE seq = ?", (seq,))
                requeued += 1
        if requeued:
            self._wakeup.notify()
        return requeued

    def purge_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Delete dead letters of ``queue`` (all, or those ids); return how many."""
        with self._write() as conn:
            if job_ids is None:
                return int(conn.execute("DELETE FROM dead WHERE queue = ?", (queue,)).rowcount)
            delete = "DELETE FROM dead WHERE queue = ? AND id = ?"
            return sum(conn.execute(delete, (queue, i)).rowcount for i in dict.fromkeys(job_ids))

    def result(self, job_id: str) -> JobResult | None:
        """What is known of a job that asked for its result; ``None`` once it expired."""
        row = self._read(
            lambda conn: conn.execute(
                "SELECT record, expires_at FROM results WHERE job_id = ?", (job_id,)
            ).fetchone()
        )
        if row is None or row[1] <= self.clock.time():
            return None
        return result_from_json(row[0])


def _recent_lateness(conn: sqlite3.Connection, queue: str) -> tuple[LatenessSample, ...]:
    """The newest ``LATENESS_SAMPLES`` lateness samples of ``queue``, newest last."""
    batches: list[list[LatenessSample]] = []
    found = 0
    rows = conn.execute("SELECT samples FROM lateness WHERE queue = ? ORDER BY seq DESC", (queue,))
    for (text,) in rows:
        try:
            batch = [LatenessSample.decode(value) for value in json.loads(text)]
        except (ValueError, TypeError):
            continue  # a damaged row costs its samples, not the status page
        batches.append(batch)
        found += len(batch)
        if found >= LATENESS_SAMPLES:
            break
    samples = [value for batch in reversed(batches) for value in batch]
    return tuple(samples[-LATENESS_SAMPLES:])


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
