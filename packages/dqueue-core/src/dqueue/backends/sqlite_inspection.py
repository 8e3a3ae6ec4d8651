"""Single jobs of a SQLite dqueue database listed, found, cancelled, rescheduled; progress kept.

:class:`~dqueue.backends.sqlite.SQLiteBackend` inherits :class:`SQLiteInspection`. Pages are
keyset pages: a cursor holds the sort key of the last job shown, and the next page reads on
from it in the index of that state (``jobs_ready``, ``jobs_delayed``, ``jobs_leased``,
``dead_by_queue``), so that the thousandth page costs what the first does. A job in flight is
cancelled by setting its ``cancelled`` mark, which settling and lease recovery read
(:mod:`dqueue.backends.lifecycle` decides what it means). The progress a run reports is kept
in the ``progress`` column of its leased row, which settling clears when the job waits again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from ..errors import DecodeError
from ..job import Job, encode_job
from ..json_values import decode_progress, encode_progress
from . import lifecycle
from .inspection import (
    CursorField,
    JobPage,
    JobState,
    JobView,
    check_page_size,
    make_cursor,
    read_cursor,
    stored_view,
)
from .sqlite_records import dead_letter_from_row, record_progress
from .sqlite_schema import DELAYED, LEASED, PROMOTE, READY
from .sqlite_settle import finish
from .sqlite_store import SQLiteStore

__all__ = ["SQLiteInspection"]

_COLUMNS: Final = (
    "seq, id, priority, due_at, attempt, worker_id, lease_until, cancelled, progress,"
    " CAST(payload AS BLOB) FROM jobs"
)
_DEAD_COLUMNS: Final = "seq, id, payload, failure, died_at, raw FROM dead"
_QUEUE: Final = "queue = :queue AND state = {state}"

#: Per state: the query of the first page, the query of a page after a cursor, the cursor's
#: fields, and how a row gives them. Every query reads one index in its order.
_PAGES: Final[dict[JobState, tuple[str, str, tuple[type[CursorField], ...]]]] = {
    JobState.DELAYED: (
        f"SELECT {_COLUMNS} WHERE {_QUEUE.format(state=DELAYED)} AND due_at > :now"
        " ORDER BY due_at, seq LIMIT :limit",
        f"SELECT {_COLUMNS} WHERE {_QUEUE.format(state=DELAYED)} AND due_at > :now"
        " AND (due_at, seq) > (:k0, :k1) ORDER BY due_at, seq LIMIT :limit",
        (float, int),
    ),
    JobState.IN_FLIGHT: (
        f"SELECT {_COLUMNS} WHERE {_QUEUE.format(state=LEASED)}"
        " ORDER BY lease_until, seq LIMIT :limit",
        f"SELECT {_COLUMNS} WHERE {_QUEUE.format(state=LEASED)}"
        " AND (lease_until, seq) > (:k0, :k1) ORDER BY lease_until, seq LIMIT :limit",
        (float, int),
    ),
    JobState.DEAD: (
        f"SELECT {_DEAD_COLUMNS} WHERE queue = :queue ORDER BY seq DESC LIMIT :limit",
        f"SELECT {_DEAD_COLUMNS} WHERE queue = :queue AND seq < :k0 ORDER BY seq DESC LIMIT :limit",
        (int,),
    ),
}
_READY_ORDER: Final = " ORDER BY priority DESC, due_at, seq LIMIT :limit"
_READY_FIRST: Final = f"SELECT {_COLUMNS} WHERE {_QUEUE.format(state=READY)}{_READY_ORDER}"
# Priority descends while due time and seq ascend: the rest of the cursor's priority, then the
# lower priorities, each a range of the index.
_READY_AFTER: Final = (
    f"SELECT {_COLUMNS} WHERE {_QUEUE.format(state=READY)} AND priority = :k0"
    f" AND (due_at, seq) > (:k1, :k2){_READY_ORDER}",
    f"SELECT {_COLUMNS} WHERE {_QUEUE.format(state=READY)} AND priority < :k0{_READY_ORDER}",
)
_READY_SHAPE: Final = (int, float, int)
_ANY_DUE: Final = (
    f"SELECT 1 FROM jobs WHERE queue = ? AND state = {DELAYED} AND due_at <= ? LIMIT 1"
)
_BY_ID: Final = f"SELECT queue, state, {_COLUMNS} WHERE id = ?"
_DEAD_BY_ID: Final = f"SELECT queue, {_DEAD_COLUMNS} WHERE id = ? ORDER BY seq DESC LIMIT 1"
_WAITING_BY_ID: Final = (
    f"SELECT seq, queue, attempt, CAST(payload AS BLOB) FROM jobs WHERE id = ?"
    f" AND state IN ({READY}, {DELAYED})"
)
_FREE_HELD: Final = "DELETE FROM uniques WHERE job_id = ? AND expires_at IS NULL"
_REMEMBER: Final = "INSERT OR REPLACE INTO finished (id, expires_at) VALUES (?, ?)"
_SET_PROGRESS: Final = (
    f"UPDATE jobs SET progress = ? WHERE id = ? AND state = {LEASED} AND worker_id = ?"
    " AND attempt = ?"
)


def _view(queue: str, state: JobState, row: tuple[Any, ...]) -> JobView:
    """A job row (``_COLUMNS``) as a view."""
    _, job_id, _, due_at, attempt, worker_id, lease_until, cancelled, progress, payload = row
    return stored_view(
        payload,
        job_id=job_id,
        queue=queue,
        state=state,
        due_at=due_at,
        attempt=attempt,
        worker_id=worker_id,
        lease_until=lease_until,
        cancelled=bool(cancelled),
        progress=decode_progress(progress),
    )


def _dead_view(queue: str, row: tuple[Any, ...]) -> JobView:
    """A dead-letter row (``_DEAD_COLUMNS``) as a view."""
    _, _, payload, failure, died_at, raw = row
    letter = dead_letter_from_row(queue, payload, failure, died_at, raw)
    job = letter.job
    return JobView(
        job=job, state=JobState.DEAD, due_at=job.due_at, failure=letter.failure, raw=letter.raw
    )


def _position(state: JobState, row: tuple[Any, ...]) -> tuple[CursorField, ...]:
    """The sort key of a row in the order of ``state``'s listing."""
    if state is JobState.READY:
        return (row[2], float(row[3]), row[0])
    if state is JobState.DELAYED:
        return (float(row[3]), row[0])
    if state is JobState.IN_FLIGHT:
        return (float(row[6]), row[0])
    return (row[0],)


class SQLiteInspection(SQLiteStore):
    """:class:`~dqueue.backends.inspection.JobInspection` of the SQLite store."""

    def jobs(
        self, queue: str, state: JobState, *, limit: int = 50, cursor: str | None = None
    ) -> JobPage:
        """Up to ``limit`` jobs of ``queue`` in ``state``, in due order, from ``cursor``."""
        check_page_size(limit)
        shape = _READY_SHAPE if state is JobState.READY else _PAGES[state][2]
        after = read_cursor(cursor, state, shape) if cursor is not None else None
        now = self.clock.time()
        if state is JobState.READY:
            self._promote_due(queue, now)
        keys = {f"k{index}": value for index, value in enumerate(after or ())}
        values = {"queue": queue, "now": now, "limit": limit + 1, **keys}
        rows = self._read(lambda conn: self._page(conn, state, after is None, values, limit))
        page, more = rows[:limit], len(rows) > limit
        if state is JobState.DEAD:
            views = [_dead_view(queue, row) for row in page]
        else:
            views = [_view(queue, state, row) for row in page]
        return JobPage(views, make_cursor(state, *_position(state, page[-1])) if more else None)

    @staticmethod
    def _page(
        conn: sqlite3.Connection, state: JobState, first: bool, values: dict[str, Any], limit: int
    ) -> list[tuple[Any, ...]]:
        if state is not JobState.READY:
            first_page, next_page, _ = _PAGES[state]
            return conn.execute(first_page if first else next_page, values).fetchall()
        if first:
            return conn.execute(_READY_FIRST, values).fetchall()
        rows = conn.execute(_READY_AFTER[0], values).fetchall()
        if len(rows) <= limit:
            rows += conn.execute(_READY_AFTER[1], values).fetchall()
        return rows[: limit + 1]

    def _promote_due(self, queue: str, now: float) -> None:
        """Make due delayed jobs ready, as reserve would, so that they list in its order."""
        if self._read(lambda conn: conn.execute(_ANY_DUE, (queue, now)).fetchone()) is not None:
            with self._write() as conn:
                conn.execute(PROMOTE, (queue, now))

    def job(self, job_id: str) -> JobView | None:
        """The job ``job_id`` in any queue and state, or ``None``."""

        def find(conn: sqlite3.Connection) -> JobView | None:
            row = conn.execute(_BY_ID, (job_id,)).fetchone()
            if row is not None:
                queue, stored, *columns = row
                if stored == LEASED:
                    return _view(queue, JobState.IN_FLIGHT, tuple(columns))
                due = stored == DELAYED and columns[3] > self.clock.time()
                return _view(queue, JobState.DELAYED if due else JobState.READY, tuple(columns))
            dead = conn.execute(_DEAD_BY_ID, (job_id,)).fetchone()
            return None if dead is None else _dead_view(dead[0], tuple(dead[1:]))

        return self._read(find)

    def cancel(self, job_ids: Sequence[str]) -> list[str]:
        """Remove waiting jobs for good, mark jobs in flight not to be retried."""
        cancelled: list[str] = []
        with self._write() as conn:
            now = self.clock.time()
            for job_id in dict.fromkeys(job_ids):
                if conn.execute(
                    f"UPDATE jobs SET cancelled = 1 WHERE id = ? AND state = {LEASED}"
                    " AND cancelled = 0",
                    (job_id,),
                ).rowcount:
                    cancelled.append(job_id)
                    continue
                row = conn.execute(_WAITING_BY_ID, (job_id,)).fetchone()
                if row is None:
                    continue
                seq, queue, attempt, payload = row
                conn.execute("DELETE FROM jobs WHERE seq = ?", (seq,))
                cancelled.append(job_id)
                try:
                    job = lifecycle.decode_stored(payload, job_id=job_id, queue=queue)
                except DecodeError:  # no record to write: free what it held
                    conn.execute(_FREE_HELD, (job_id,))
                    if self.options.id_retention_s > 0:
                        conn.execute(_REMEMBER, (job_id, now + self.options.id_retention_s))
                    continue
                step = lifecycle.cancelled(job.with_changes(attempt=attempt), now)
                finish(conn, step, now, self.options)
        return cancelled

    def reschedule(self, job_ids: Sequence[str], run_at: float | None) -> list[str]:
        """Make waiting jobs due at ``run_at`` (``None``: now)."""
        moved: list[str] = []
        with self._write() as conn:
            now = self.clock.time()
            due = now if run_at is None else run_at
            for job_id in dict.fromkeys(job_ids):
                row = conn.execute(_WAITING_BY_ID, (job_id,)).fetchone()
                if row is None:
                    continue
                seq, queue, _, payload = row
                try:
                    job = lifecycle.decode_stored(payload, job_id=job_id, queue=queue)
                except DecodeError:
                    continue  # nothing to run: a worker dead-letters it where it is
                job = job.with_changes(run_after=due)
                conn.execute(
                    "UPDATE jobs SET state = ?, due_at = ?, payload = ? WHERE seq = ?",
                    (DELAYED if due > now else READY, due, encode_job(job), seq),
                )
                moved.append(job_id)
        if moved:
            self._wakeup.notify()
        return moved

    def set_progress(self, job: Job, progress: Any, *, worker_id: str) -> bool:
        """Keep the progress of the run of ``job`` that ``worker_id`` holds (and in its record)."""
        text = encode_progress(progress)
        with self._write() as conn:
            owned = (text, job.id, worker_id, job.attempt)
            if conn.execute(_SET_PROGRESS, owned).rowcount == 0:
                return False
            record_progress(conn, job.id, text)
        return True
