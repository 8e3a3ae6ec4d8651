"""``SQLiteBackend``: the embedded default, one database file shared by every worker process.

No server: set ``DQUEUE_BACKEND = "dqueue.backends.sqlite.SQLiteBackend"`` and
``DQUEUE_SQLITE_PATH`` to a file on a local disk, and every process that opens that file sees
the same queues, pauses, leases, dead letters and results. It is at-least-once: a reserved job
is leased to its worker and comes back (attempt counted) if the worker dies.

How it stays correct with many processes:

- WAL mode: readers never block the writer, and a reserve that finds nothing takes no lock.
- Every write is one ``BEGIN IMMEDIATE`` transaction, so two processes never claim the same
  job; a busy database is waited for (``busy_timeout``) and then reported as
  :class:`~dqueue.errors.BackendUnavailable`, never as a raw ``sqlite3`` error.
- One connection per thread and per process (see :mod:`dqueue.backends.sqlite_schema`).

Durability: ``synchronous=NORMAL``. A committed enqueue or ack survives the process crashing
or being killed; a power cut or kernel crash may lose the last transactions since the last WAL
checkpoint (never corrupting the file). ``FULL`` would fsync every commit and cost an order of
magnitude in throughput.

How it stays fast: ``reserve`` claims up to ``limit`` jobs in one transaction with one
``UPDATE ... RETURNING`` over a partial index of ready jobs (O(log n) however many wait),
``settle`` applies a batch of outcomes in one transaction, and enqueues never fsync.

Waiting: other processes can't notify this one, so a ``reserve`` that found nothing re-checks
every ``DQUEUE_POLL_INTERVAL`` with a cheap read, and sleeps exactly until the earliest delayed
job is due when that comes sooner. Enqueues from this process wake it at once.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import BackendError, BackendUnavailable, DecodeError
from ..job import Job, JobFailure, decode_job, encode_job
from ..settings import Settings
from .base import Backend, DeadLetter, JobResult, JobStatus, Outcome, OutcomeKind, QueueCounts
from .common import dead_letter_from_decode_error, dedup_identity
from .sqlite_records import (
    dead_letter_from_row,
    failure_to_json,
    next_result,
    result_from_json,
    result_to_json,
)
from .sqlite_schema import DELAYED, LEASED, READY, ConnectionPool, resolve_path

__all__ = ["SQLiteBackend"]

#: Lateness samples kept per queue for ``status``; trimmed every ``_TRIM_EVERY`` samples.
_LATENESS_SAMPLES: Final = 1000
_TRIM_EVERY: Final = 100
#: The shortest wait of a blocking reserve, so that a clock a hair behind never spins.
_MIN_WAIT_S: Final = 0.0001
_HAS_RETURNING: Final = sqlite3.sqlite_version_info >= (3, 35, 0)

_INSERT_JOB: Final = (
    "INSERT OR IGNORE INTO jobs (id, queue, state, priority, due_at, attempt, unique_key, payload)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_PROMOTE: Final = (
    f"UPDATE jobs SET state = {READY} WHERE queue = ? AND state = {DELAYED} AND due_at <= ?"
)
_NEXT_READY: Final = (
    f"SELECT seq FROM jobs WHERE queue = ? AND state = {READY}"
    " ORDER BY priority DESC, due_at, seq LIMIT ?"
)
_CLAIM_RETURNING: Final = (
    f"UPDATE jobs SET state = {LEASED}, worker_id = ?, lease_until = ?, attempt = attempt + 1"
    f" WHERE seq IN ({_NEXT_READY})"
    " RETURNING seq, id, priority, due_at, attempt, CAST(payload AS BLOB)"
)
_SELECT_READY: Final = (
    "SELECT seq, id, priority, due_at, attempt + 1, CAST(payload AS BLOB) FROM jobs"
    f" WHERE seq IN ({_NEXT_READY})"
)
_LEASE_ROWS: Final = (
    f"UPDATE jobs SET state = {LEASED}, worker_id = ?, lease_until = ?, attempt = attempt + 1"
    " WHERE seq = ?"
)
_PROBE: Final = (
    "SELECT (SELECT paused_until FROM queues WHERE name = ?1),"
    f" EXISTS (SELECT 1 FROM jobs WHERE queue = ?1 AND state = {READY}),"
    f" (SELECT min(due_at) FROM jobs WHERE queue = ?1 AND state = {DELAYED})"
)
_OWNED: Final = f"id = ? AND state = {LEASED} AND worker_id = ? AND attempt = ?"
_ACK: Final = f"DELETE FROM jobs WHERE {_OWNED}"
_RETRY: Final = (
    "UPDATE jobs SET state = ?, due_at = ?, payload = ?, worker_id = NULL, lease_until = NULL"
    f" WHERE {_OWNED}"
)
_RELEASE: Final = (
    "UPDATE jobs SET state = ?, attempt = attempt - 1, worker_id = NULL, lease_until = NULL"
    f" WHERE {_OWNED}"
)
_BURY: Final = (
    "INSERT OR REPLACE INTO dead (queue, id, payload, failure, died_at, raw)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_FREE_UNIQUE: Final = "DELETE FROM uniques WHERE key = ? AND job_id = ? AND expires_at IS NULL"


@dataclass(frozen=True, slots=True)
class _Wait:
    """What a reserve that found nothing knows about when to look again."""

    paused_until: float | None = None
    next_due: float | None = None
    again_now: bool = False


class _Signal:
    """Wakes this process's waiting reserves when this process stores a job."""

    def __init__(self) -> None:
        self.condition = threading.Condition(threading.Lock())
        self.generation = 0

    def notify(self) -> None:
        with self.condition:
            self.generation += 1
            self.condition.notify_all()

    def wait(self, generation: int, timeout_s: float) -> None:
        with self.condition:
            if self.generation == generation:
                self.condition.wait(timeout_s)


_signals: dict[str, _Signal] = {}
_signals_lock = threading.Lock()


def _forget_signals_after_fork() -> None:
    global _signals_lock
    _signals_lock = threading.Lock()
    _signals.clear()


os.register_at_fork(after_in_child=_forget_signals_after_fork)


def _signal_for(path: str) -> _Signal:
    with _signals_lock:
        signal = _signals.get(path)
        if signal is None:
            signal = _signals[path] = _Signal()
        return signal


class SQLiteBackend(Backend):
    """Jobs in a SQLite file (``DQUEUE_SQLITE_PATH``), shared by every process that opens it."""

    supports_priority: ClassVar[bool] = True
    supports_results: ClassVar[bool] = True
    supports_leases: ClassVar[bool] = True
    supports_workers: ClassVar[bool] = True

    #: Seconds a statement waits for another process's write lock before the backend reports
    #: :class:`~dqueue.errors.BackendUnavailable`.
    busy_timeout_s: ClassVar[float] = 30.0

    def __init__(self, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(settings, clock=clock)
        self.path = resolve_path(settings.SQLITE_PATH)
        self._pool = ConnectionPool(self.path, busy_timeout_s=self.busy_timeout_s)
        self._use_returning = _HAS_RETURNING
        self._known_queues: set[str] = set()
        self._samples_since_trim: dict[str, int] = {}
        with self._errors():
            self._pool.get()  # refuse a bad file now, not at the first job

    # -- plumbing ---------------------------------------------------------------------------

    @property
    def _signal(self) -> _Signal:
        return _signal_for(self.path)

    def _unavailable(self, exc: sqlite3.Error) -> BackendError:
        if isinstance(exc, sqlite3.OperationalError):
            self._pool.discard()  # a disk or lock error: start the next call afresh
            return BackendUnavailable(f"SQLite database {self.path} is unavailable: {exc}")
        return BackendError(f"SQLite database {self.path} failed: {exc}")

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise self._unavailable(exc) from exc

    @contextlib.contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._errors():
            yield self._pool.get()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        with self._errors():
            conn = self._pool.get()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _register_queues(self, conn: sqlite3.Connection, names: set[str]) -> None:
        new = names - self._known_queues
        if new:
            conn.executemany("INSERT OR IGNORE INTO queues (name) VALUES (?)", [(n,) for n in new])
            self._known_queues |= new

    @staticmethod
    def _stored_result(conn: sqlite3.Connection, job_id: str) -> JobResult | None:
        row = conn.execute("SELECT record FROM results WHERE job_id = ?", (job_id,)).fetchone()
        return result_from_json(row[0]) if row is not None else None

    def _record(
        self, conn: sqlite3.Connection, job: Job, status: JobStatus, now: float, **fields: Any
    ) -> None:
        if job.result_ttl is None:
            return
        record = next_result(self._stored_result(conn, job.id), job, status, **fields)
        conn.execute(
            "INSERT OR REPLACE INTO results (job_id, record, expires_at) VALUES (?, ?, ?)",
            (job.id, result_to_json(record), now + job.result_ttl),
        )

    def _bury(self, conn: sqlite3.Connection, job: Job, failure: JobFailure, now: float) -> None:
        """Dead-letter ``job`` (already removed from ``jobs``)."""
        if job.unique_key is not None:
            conn.execute(_FREE_UNIQUE, (job.unique_key, job.id))
        conn.execute(
            _BURY, (job.queue, job.id, encode_job(job), failure_to_json(failure), now, None)
        )
        self._record(conn, job, JobStatus.DEAD, now, failure=failure, finished_at=now)

    def _bury_undecodable(
        self, conn: sqlite3.Connection, queue: str, job_id: str, raw: bytes, reason: str, now: float
    ) -> None:
        text = raw.decode("utf-8", errors="replace")
        letter = dead_letter_from_decode_error(queue, text, f"job {job_id}: {reason}", now)
        conn.execute(
            _BURY,
            (queue, letter.job.id, encode_job(letter.job), failure_to_json(letter.failure),
             now, text),
        )  # fmt: skip

    def _trim_dead(self, conn: sqlite3.Connection, queues: set[str]) -> None:
        limit = self.settings.DEAD_LETTER_LIMIT
        for queue in queues:
            conn.execute(
                "DELETE FROM dead WHERE queue = ?1 AND seq <= (SELECT seq FROM dead"
                " WHERE queue = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                (queue, limit),
            )

    # -- producing --------------------------------------------------------------------------

    def enqueue(self, job: Job) -> str:
        """Store ``job`` (see :class:`~dqueue.backends.base.Backend`)."""
        return self.enqueue_many([job])[0]

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Store jobs in order, in one transaction; unique-key duplicates return the holder."""
        if not jobs:
            return []
        payloads = [encode_job(job) for job in jobs]  # refuse bad jobs before storing any
        ids: list[str] = []
        simple: list[tuple[Any, ...]] = []
        with self._write() as conn:
            now = self.clock.time()
            self._register_queues(conn, {job.queue for job in jobs})
            for job, payload in zip(jobs, payloads, strict=True):
                state = DELAYED if job.run_after is not None and job.run_after > now else READY
                row = (job.id, job.queue, state, job.priority, job.due_at, job.attempt,
                       job.unique_key, payload)  # fmt: skip
                if job.unique_key is None and job.result_ttl is None:
                    simple.append(row)  # a duplicate id is ignored by INSERT OR IGNORE
                    ids.append(job.id)
                    continue
                if simple:
                    conn.executemany(_INSERT_JOB, simple)
                    simple.clear()
                ids.append(self._enqueue_checked(conn, job, row, now))
            if simple:
                conn.executemany(_INSERT_JOB, simple)
        self._signal.notify()
        return ids

    def _enqueue_checked(
        self, conn: sqlite3.Connection, job: Job, row: tuple[Any, ...], now: float
    ) -> str:
        if conn.execute("SELECT 1 FROM jobs WHERE id = ?", (job.id,)).fetchone() is not None:
            return job.id
        if job.unique_key is not None:
            held = conn.execute(
                "SELECT job_id, expires_at FROM uniques WHERE key = ?", (job.unique_key,)
            ).fetchone()
            if held is not None and (held[1] is None or held[1] > now):
                return str(held[0])
            expires = now + job.unique_for if job.unique_for is not None else None
            conn.execute(
                "INSERT OR REPLACE INTO uniques (key, job_id, expires_at) VALUES (?, ?, ?)",
                (job.unique_key, job.id, expires),
            )
        conn.execute(_INSERT_JOB, row)
        self._record(conn, job, JobStatus.QUEUED, now)
        return job.id

    # -- consuming --------------------------------------------------------------------------

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        """Take up to ``limit`` due jobs of ``queue``, waiting up to ``timeout_s`` for one."""
        if limit < 1:
            raise ValueError(f"reserve limit must be 1 or more, not {limit}")
        timeout_s = max(timeout_s, 0.0)
        signal = self._signal
        deadline = self.clock.time() + timeout_s
        # Also bounded in real time, so that a reserve under a ManualClock still returns.
        real_deadline = time.monotonic() + timeout_s
        probe_first = False
        while True:
            generation = signal.generation
            now = self.clock.time()
            wait = self._probe(queue, now) if probe_first else None
            if wait is None or wait.again_now:
                jobs, wait = self._claim(queue, worker_id, limit, now)
                if jobs:
                    return jobs
                if wait.again_now:
                    continue  # every claimed row was corrupt: there may be good ones behind
            probe_first = True
            remaining = min(deadline - now, real_deadline - time.monotonic())
            if remaining <= 0:
                return []
            pause = min(remaining, self.settings.POLL_INTERVAL)
            if wait.paused_until is not None:
                pause = min(pause, wait.paused_until - now)
            elif wait.next_due is not None:
                pause = min(pause, wait.next_due - now)
            signal.wait(generation, max(pause, _MIN_WAIT_S))

    def _probe(self, queue: str, now: float) -> _Wait:
        """Without taking the write lock: is anything claimable, and if not, until when?"""
        with self._read() as conn:
            paused_until, has_ready, next_due = conn.execute(_PROBE, (queue,)).fetchone()
        if paused_until is not None and paused_until > now:
            return _Wait(paused_until=paused_until)
        claimable = bool(has_ready) or (next_due is not None and next_due <= now)
        return _Wait(next_due=next_due, again_now=claimable)

    def _claim(self, queue: str, worker_id: str, limit: int, now: float) -> tuple[list[Job], _Wait]:
        jobs: list[Job] = []
        with self._write() as conn:
            row = conn.execute(
                "SELECT paused_until FROM queues WHERE name = ?", (queue,)
            ).fetchone()
            if row is not None and row[0] is not None and row[0] > now:
                return [], _Wait(paused_until=row[0])
            conn.execute(_PROMOTE, (queue, now))
            lease_until = now + self.settings.LEASE_SECONDS
            if self._use_returning:
                rows = conn.execute(_CLAIM_RETURNING, (worker_id, lease_until, queue, limit))
                claimed = rows.fetchall()
            else:
                claimed = conn.execute(_SELECT_READY, (queue, limit)).fetchall()
                conn.executemany(_LEASE_ROWS, [(worker_id, lease_until, r[0]) for r in claimed])
            # RETURNING gives rows in no promised order: restore priority, due, enqueue order.
            claimed.sort(key=lambda r: (-r[2], r[3], r[0]))
            for seq, job_id, _, _, attempt, raw in claimed:
                try:
                    job = decode_job(raw).with_changes(attempt=attempt)
                except DecodeError as exc:
                    conn.execute("DELETE FROM jobs WHERE seq = ?", (seq,))
                    self._bury_undecodable(conn, queue, job_id, raw, str(exc), now)
                    continue
                jobs.append(job)
                if job.result_ttl is not None:
                    self._record(conn, job, JobStatus.RUNNING, now, worker_id=worker_id,
                                 started_at=now)  # fmt: skip
            if claimed and not jobs:
                self._trim_dead(conn, {queue})
                return [], _Wait(again_now=True)
            if jobs:
                return jobs, _Wait()
            next_due = conn.execute(
                f"SELECT min(due_at) FROM jobs WHERE queue = ? AND state = {DELAYED}", (queue,)
            ).fetchone()[0]
            return [], _Wait(next_due=next_due)

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        """Apply outcomes in one transaction; return the ids whose lease ``worker_id`` lost."""
        if not outcomes:
            return []
        lost: list[str] = []
        samples: list[tuple[str, float]] = []
        buried: set[str] = set()
        requeued = False
        with self._write() as conn:
            now = self.clock.time()
            for outcome in outcomes:
                if not self._apply(conn, outcome, worker_id, now):
                    lost.append(outcome.job.id)
                    continue
                lateness = outcome.lateness_s
                if lateness is not None:
                    samples.append((outcome.job.queue, lateness))
                if outcome.kind is OutcomeKind.DEAD:
                    buried.add(outcome.job.queue)
                elif outcome.kind is not OutcomeKind.ACK:
                    requeued = True
            if samples:
                self._add_lateness(conn, samples)
            if buried:
                self._trim_dead(conn, buried)
        if requeued:
            self._signal.notify()
        return lost

    def _apply(
        self, conn: sqlite3.Connection, outcome: Outcome, worker_id: str, now: float
    ) -> bool:
        """Apply one outcome if ``worker_id`` still holds the lease; ``False`` if it doesn't."""
        job = outcome.job
        owner = (job.id, worker_id, job.attempt)
        kind = outcome.kind
        if kind is OutcomeKind.ACK:
            if conn.execute(_ACK, owner).rowcount == 0:
                return False
            if job.unique_key is not None:
                conn.execute(_FREE_UNIQUE, (job.unique_key, job.id))
            self._record(conn, job, JobStatus.SUCCEEDED, now, return_value=outcome.result,
                         finished_at=outcome.finished_at or now)  # fmt: skip
        elif kind is OutcomeKind.RETRY:
            again = job.with_changes(run_after=outcome.run_after)
            state = DELAYED if again.due_at > now else READY
            if conn.execute(_RETRY, (state, again.due_at, encode_job(again), *owner)).rowcount == 0:
                return False
            self._record(conn, job, JobStatus.FAILED, now, failure=outcome.failure,
                         finished_at=outcome.finished_at or now)  # fmt: skip
        elif kind is OutcomeKind.RELEASE:
            state = DELAYED if job.due_at > now else READY
            if conn.execute(_RELEASE, (state, *owner)).rowcount == 0:
                return False
            back = job.with_changes(attempt=max(job.attempt - 1, 0))
            self._record(conn, back, JobStatus.QUEUED, now)
        else:
            if conn.execute(_ACK, owner).rowcount == 0:
                return False
            failure = outcome.failure or JobFailure.from_reason(
                "dqueue.Dead", "moved to the dead letters", at=now, attempt=job.attempt
            )
            self._bury(conn, job, failure, now)
        return True

    def _add_lateness(self, conn: sqlite3.Connection, samples: list[tuple[str, float]]) -> None:
        conn.executemany("INSERT INTO lateness (queue, seconds) VALUES (?, ?)", samples)
        for queue, _ in samples:
            count = self._samples_since_trim.get(queue, 0) + 1
            self._samples_since_trim[queue] = count
            if count >= _TRIM_EVERY:
                self._samples_since_trim[queue] = 0
                conn.execute(
                    "DELETE FROM lateness WHERE queue = ?1 AND seq <= (SELECT seq FROM lateness"
                    " WHERE queue = ?1 ORDER BY seq DESC LIMIT 1 OFFSET ?2)",
                    (queue, _LATENESS_SAMPLES),
                )

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        """Extend the leases ``worker_id`` holds; return the ids it lost."""
        if not job_ids:
            return []
        lost: list[str] = []
        with self._write() as conn:
            until = self.clock.time() + self.settings.LEASE_SECONDS
            for job_id in job_ids:
                updated = conn.execute(
                    f"UPDATE jobs SET lease_until = ? WHERE id = ? AND state = {LEASED}"
                    " AND worker_id = ?",
                    (until, job_id, worker_id),
                ).rowcount
                if updated == 0:
                    lost.append(job_id)
        return lost

    def recover(self) -> int:
        """Put jobs whose lease ran out back (attempt counted), or bury those out of attempts.

        Also drops expired result records and unique keys. One transaction, so processes that
        call it at once recover each job once.
        """
        recovered = 0
        with self._write() as conn:
            now = self.clock.time()
            buried: set[str] = set()
            queues = [row[0] for row in conn.execute("SELECT name FROM queues")]
            for queue in queues:
                expired = conn.execute(
                    "SELECT seq, id, attempt, worker_id, CAST(payload AS BLOB) FROM jobs"
                    f" WHERE queue = ? AND state = {LEASED} AND lease_until <= ?",
                    (queue, now),
                ).fetchall()
                for seq, job_id, attempt, worker_id, raw in expired:
                    recovered += 1
                    if self._recover_one(conn, queue, seq, job_id, attempt, worker_id, raw, now):
                        buried.add(queue)
            if buried:
                self._trim_dead(conn, buried)
            conn.execute("DELETE FROM results WHERE expires_at <= ?", (now,))
            conn.execute("DELETE FROM uniques WHERE expires_at <= ?", (now,))
        if recovered:
            self._signal.notify()
        return recovered

    def _recover_one(
        self, conn: sqlite3.Connection, queue: str, seq: int, job_id: str, attempt: int,
        worker_id: str, raw: bytes, now: float,
    ) -> bool:  # fmt: skip
        """Requeue or bury one job whose lease expired; ``True`` when it was buried."""
        try:
            job = decode_job(raw).with_changes(attempt=attempt)
        except DecodeError as exc:
            conn.execute("DELETE FROM jobs WHERE seq = ?", (seq,))
            self._bury_undecodable(conn, queue, job_id, raw, str(exc), now)
            return True
        failure = JobFailure.from_reason(
            "dqueue.LeaseExpired",
            f"worker {worker_id} stopped renewing its lease (crashed or stuck)",
            at=now,
            attempt=attempt,
        )
        if attempt >= job.max_attempts:
            conn.execute("DELETE FROM jobs WHERE seq = ?", (seq,))
            self._bury(conn, job, failure, now)
            return True
        state = DELAYED if job.due_at > now else READY
        conn.execute(
            "UPDATE jobs SET state = ?, worker_id = NULL, lease_until = NULL WHERE seq = ?",
            (state, seq),
        )
        self._record(conn, job, JobStatus.FAILED, now, failure=failure)
        return False

    # -- introspection and control ----------------------------------------------------------

    def queues(self) -> list[str]:
        """Every queue that holds or held jobs (or was paused), sorted."""
        with self._read() as conn:
            return [row[0] for row in conn.execute("SELECT name FROM queues ORDER BY name")]

    def counts(self, queue: str) -> QueueCounts:
        """Jobs of ``queue`` per state, its pause, and recent lateness (newest last)."""
        with self._read() as conn:
            now = self.clock.time()
            conn.execute("BEGIN")  # one snapshot for every count
            try:
                ready, due, delayed, in_flight, dead, paused = conn.execute(
                    "SELECT"
                    f" (SELECT count(*) FROM jobs WHERE queue = ?1 AND state = {READY}),"
                    f" (SELECT count(*) FROM jobs WHERE queue = ?1 AND state = {DELAYED}"
                    "   AND due_at <= ?2),"
                    f" (SELECT count(*) FROM jobs WHERE queue = ?1 AND state = {DELAYED}"
                    "   AND due_at > ?2),"
                    f" (SELECT count(*) FROM jobs WHERE queue = ?1 AND state = {LEASED}),"
                    " (SELECT count(*) FROM dead WHERE queue = ?1),"
                    " (SELECT paused_until FROM queues WHERE name = ?1)",
                    (queue, now),
                ).fetchone()
                lateness = conn.execute(
                    "SELECT seconds FROM lateness WHERE queue = ? ORDER BY seq DESC LIMIT ?",
                    (queue, _LATENESS_SAMPLES),
                ).fetchall()
            finally:
                conn.execute("COMMIT")
        return QueueCounts(
            queue=queue,
            ready=ready + due,
            delayed=delayed,
            in_flight=in_flight,
            dead=dead,
            paused_until=paused if paused is not None and paused > now else None,
            recent_lateness=tuple(row[0] for row in reversed(lateness)),
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
        self._signal.notify()

    def paused_until(self, queue: str) -> float | None:
        """When the pause of ``queue`` ends, or ``None`` when it is not paused."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT paused_until FROM queues WHERE name = ?", (queue,)
            ).fetchone()
        if row is None or row[0] is None or row[0] <= self.clock.time():
            return None
        return float(row[0])

    def clear(self, queue: str) -> int:
        """Delete every ready and delayed job of ``queue`` (freeing their unique keys)."""
        with self._write() as conn:
            waiting = f"queue = ? AND state IN ({READY}, {DELAYED})"
            keyed = conn.execute(
                f"SELECT unique_key, id FROM jobs WHERE {waiting} AND unique_key IS NOT NULL",
                (queue,),
            ).fetchall()
            conn.executemany(_FREE_UNIQUE, keyed)
            return conn.execute(f"DELETE FROM jobs WHERE {waiting}", (queue,)).rowcount

    def deduplicate(self, queue: str) -> tuple[int, int]:
        """Remove waiting jobs identical (task, args, kwargs) to an older waiting one."""
        with self._write() as conn:
            rows = conn.execute(
                "SELECT seq, id, unique_key, CAST(payload AS BLOB) FROM jobs"
                f" WHERE queue = ? AND state IN ({READY}, {DELAYED}) ORDER BY seq",
                (queue,),
            ).fetchall()
            seen: set[str] = set()
            duplicates: list[tuple[int, str, str | None]] = []
            for seq, job_id, unique_key, raw in rows:
                try:
                    identity = dedup_identity(decode_job(raw))
                except DecodeError:
                    continue  # left for reserve to dead-letter with the reason
                if identity in seen:
                    duplicates.append((seq, job_id, unique_key))
                else:
                    seen.add(identity)
            conn.executemany("DELETE FROM jobs WHERE seq = ?", [(d[0],) for d in duplicates])
            conn.executemany(
                _FREE_UNIQUE, [(key, job_id) for _, job_id, key in duplicates if key is not None]
            )
        return len(rows), len(rows) - len(duplicates)

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters of ``queue``, newest first."""
        with self._read() as conn:
            rows = conn.execute(
                "SELECT payload, failure, died_at, raw FROM dead WHERE queue = ?"
                " ORDER BY seq DESC LIMIT ?",
                (queue, limit),
            ).fetchall()
        return [dead_letter_from_row(queue, *row) for row in rows]

    def retry_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, or those ids) back on ``queue`` with fresh attempts.

        Undecodable letters stay: there is nothing to run.
        """
        retried = 0
        with self._write() as conn:
            rows = self._chosen_dead(conn, queue, job_ids)
            for seq, payload in rows:
                try:
                    job = decode_job(payload).with_changes(attempt=0, run_after=None)
                except DecodeError:
                    continue
                conn.execute(
                    _INSERT_JOB,
                    (job.id, queue, READY, job.priority, job.due_at, 0, job.unique_key,
                     encode_job(job)),
                )  # fmt: skip
                conn.execute("DELETE FROM dead WHERE seq = ?", (seq,))
                retried += 1
        if retried:
            self._signal.notify()
        return retried

    @staticmethod
    def _chosen_dead(
        conn: sqlite3.Connection, queue: str, job_ids: Sequence[str] | None
    ) -> list[tuple[int, str]]:
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

    def purge_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Delete dead letters of ``queue`` (all, or those ids); return how many."""
        with self._write() as conn:
            if job_ids is None:
                return conn.execute("DELETE FROM dead WHERE queue = ?", (queue,)).rowcount
            return sum(
                conn.execute("DELETE FROM dead WHERE queue = ? AND id = ?", (queue, i)).rowcount
                for i in dict.fromkeys(job_ids)
            )

    def result(self, job_id: str) -> JobResult | None:
        """What is known of a job that asked for its result; ``None`` once it expired."""
        with self._read() as conn:
            row = conn.execute(
                "SELECT record, expires_at FROM results WHERE job_id = ?", (job_id,)
            ).fetchone()
        if row is None or row[1] <= self.clock.time():
            return None
        return result_from_json(row[0])

    def ping(self) -> None:
        """Raise :class:`~dqueue.errors.BackendUnavailable` when the file can't be read."""
        with self._read() as conn:
            conn.execute("SELECT count(*) FROM queues").fetchone()

    def close(self) -> None:
        """Close every connection this process opened to the file."""
        self._pool.close_all()
