"""``SQLiteBackend``: the embedded default, one database file shared by every worker process.

No server: set ``DQUEUE_BACKEND = "dqueue.backends.sqlite.SQLiteBackend"`` and
``DQUEUE_SQLITE_PATH`` to a file on a local disk, and every process that opens that file sees
the same queues, pauses, leases, dead letters and results. It is at-least-once: a reserved job
is leased to its worker and comes back (attempt counted) if the worker dies.

How it stays correct with many processes:

- WAL mode: readers never block the writer, and a reserve that finds nothing takes no lock.
- Every write is one ``BEGIN IMMEDIATE`` transaction, so two processes never claim the same
  job. A busy database is retried every 0.1 to 2 ms (not SQLite's own busy handler, whose
  sleeps grow to 100 ms and starve a waiting worker) for up to ``busy_timeout_s``, then
  reported as :class:`~dqueue.errors.BackendUnavailable`, never as a raw ``sqlite3`` error.
- One connection per thread and per process (see :mod:`dqueue.backends.sqlite_schema`).

Durability: ``synchronous=NORMAL``. A committed enqueue or ack survives the process crashing
or being killed; a power cut or kernel crash may lose the last transactions since the last WAL
checkpoint (never corrupting the file). ``FULL`` would fsync every commit and cost an order of
magnitude in throughput.

How it stays fast: ``reserve`` claims up to ``limit`` jobs in one transaction with one
``UPDATE ... RETURNING`` over a partial index of ready jobs (O(log n) however many wait),
``settle`` applies a batch of outcomes in one transaction, ``settle_and_reserve`` (for the
worker, see :mod:`dqueue.backends.pipelining`) does both in one, and enqueues never fsync.

Waiting: a ``reserve`` that found nothing sleeps exactly until the earliest delayed job is due,
and wakes at once when a commit makes jobs due: in this process through a condition, in others
(on POSIX) through a named pipe beside the file (see :mod:`dqueue.backends.sqlite_wakeup`). It
also re-checks every ``DQUEUE_POLL_INTERVAL`` with a cheap read, so a lost wake-up only costs
latency.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from ..errors import DecodeError
from ..job import Job, encode_job
from . import lifecycle
from .base import Outcome, OutcomeKind
from .sqlite_control import PAUSED, SQLiteControl
from .sqlite_inspection import SQLiteInspection
from .sqlite_records import record_result, trim_dead
from .sqlite_schema import DELAYED, LEASED, PROMOTE, READY
from .sqlite_settle import (
    ack_plain,
    apply_outcome,
    bury_claimed,
    is_plain_ack,
    recover_expired,
)
from .sqlite_store import SQLiteOptions
from .sqlite_workers import SQLiteWorkers

__all__ = ["SQLiteBackend", "SQLiteOptions"]

#: The shortest wait of a blocking reserve, so that a clock a hair behind never spins.
_MIN_WAIT_S: Final = 0.0001

# OR IGNORE: an id already stored is a no-op, and so is one that finished within the retention.
_INSERT_JOB: Final = (
    "INSERT OR IGNORE INTO jobs (id, queue, state, priority, due_at, attempt, unique_key, payload)"
    " SELECT * FROM (VALUES (?, ?, ?, ?, ?, ?, ?, ?)) AS candidate WHERE NOT EXISTS"
    " (SELECT 1 FROM finished WHERE id = candidate.column1 AND expires_at > ?)"
)
#: The id is stored, or finished within the retention.
_KNOWN_ID: Final = (
    "SELECT 1 FROM jobs WHERE id = :id"
    " UNION ALL SELECT 1 FROM finished WHERE id = :id AND expires_at > :now"
)
_NEXT_DUE: Final = f"SELECT min(due_at) FROM jobs WHERE queue = ? AND state = {DELAYED}"
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
_LEASE_ROW: Final = (
    f"UPDATE jobs SET state = {LEASED}, worker_id = ?, lease_until = ?, attempt = attempt + 1"
    " WHERE seq = ?"
)
_PROBE: Final = (
    "SELECT (SELECT paused_until FROM queues WHERE name = :queue),"
    f" EXISTS (SELECT 1 FROM jobs WHERE queue = :queue AND state = {READY}),"
    f" (SELECT min(due_at) FROM jobs WHERE queue = :queue AND state = {DELAYED})"
)
_RENEW: Final = (
    f"UPDATE jobs SET lease_until = ? WHERE id = ? AND state = {LEASED} AND worker_id = ?"
)


@dataclass(frozen=True, slots=True)
class _Wait:
    """What a reserve that found nothing knows about when to look again."""

    paused_until: float | None = None
    next_due: float | None = None
    again_now: bool = False


class SQLiteBackend(SQLiteControl, SQLiteInspection, SQLiteWorkers):
    """Jobs in a SQLite file (``DQUEUE_SQLITE_PATH``), shared by every process that opens it."""

    supports_priority: ClassVar[bool] = True
    supports_results: ClassVar[bool] = True
    supports_leases: ClassVar[bool] = True
    supports_workers: ClassVar[bool] = True

    # -- producing --------------------------------------------------------------------------

    def enqueue(self, job: Job) -> str:
        """Store ``job`` (see :class:`~dqueue.backends.base.Backend`)."""
        if (
            job.unique_key is not None
            or job.result_ttl is not None
            or (job.queue not in self._known_queues)
        ):
            return self.enqueue_many([job])[0]
        payload = encode_job(job)
        with self._write() as conn:  # the common case, without enqueue_many's bookkeeping
            now = self.clock.time()
            state = DELAYED if job.run_after is not None and job.run_after > now else READY
            row = (job.id, job.queue, state, job.priority, job.due_at, job.attempt, None, payload)
            conn.execute(_INSERT_JOB, (*row, now))
        self._wakeup.notify()
        return job.id

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Store jobs in order, in one transaction; unique-key duplicates return the holder."""
        if not jobs:
            return []
        payloads = [encode_job(job) for job in jobs]  # refuse bad jobs before storing any
        ids: list[str] = []
        plain: list[tuple[Any, ...]] = []
        with self._write() as conn:
            now = self.clock.time()
            self._register_queues(conn, {job.queue for job in jobs})
            for job, payload in zip(jobs, payloads, strict=True):
                state = DELAYED if job.run_after is not None and job.run_after > now else READY
                row = (job.id, job.queue, state, job.priority, job.due_at, job.attempt,
                       job.unique_key, payload, now)  # fmt: skip
                if job.unique_key is None and job.result_ttl is None:
                    plain.append(row)
                    ids.append(job.id)
                    continue
                if plain:
                    conn.executemany(_INSERT_JOB, plain)
                    plain.clear()
                ids.append(self._enqueue_checked(conn, job, row, now))
            if plain:
                conn.executemany(_INSERT_JOB, plain)
        self._wakeup.notify()
        return ids

    def _enqueue_checked(
        self, conn: sqlite3.Connection, job: Job, row: tuple[Any, ...], now: float
    ) -> str:
        """Store a job that takes a unique key or keeps a result; return the id that holds it."""
        if conn.execute(_KNOWN_ID, {"id": job.id, "now": now}).fetchone() is not None:
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
        record_result(conn, lifecycle.enqueued(job), now)
        return job.id

    # -- consuming --------------------------------------------------------------------------

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        """Take up to ``limit`` due jobs of ``queue``, waiting up to ``timeout_s`` for one."""
        if limit < 1:
            raise ValueError(f"reserve limit must be 1 or more, not {limit}")
        timeout_s = max(timeout_s, 0.0)
        wakeup = self._wakeup
        deadline = self.clock.time() + timeout_s
        # Bounded in real time too, so that a reserve under a ManualClock still returns.
        real_deadline = time.monotonic() + timeout_s
        probe_first = False
        while True:
            generation = wakeup.generation
            now = self.clock.time()
            wait = self._probe(queue, now) if probe_first else None
            if wait is None or wait.again_now:
                jobs, wait = self._claim(queue, worker_id, limit, now)
                if jobs:
                    return jobs
                if wait.again_now:
                    continue  # every claimed row was corrupt: good ones may wait behind
            probe_first = True  # from now on, look before taking the write lock
            remaining = min(deadline - now, real_deadline - time.monotonic())
            if remaining <= 0:
                return []
            pause = min(remaining, self.options.poll_interval_s)
            if wait.paused_until is not None:
                pause = min(pause, wait.paused_until - now)
            elif wait.next_due is not None:
                pause = min(pause, wait.next_due - now)
            wakeup.wait(generation, max(pause, _MIN_WAIT_S))

    def _probe(self, queue: str, now: float) -> _Wait:
        """Without the write lock: is anything claimable, and if not, until when to wait?"""
        paused_until, has_ready, next_due = self._read(
            lambda conn: conn.execute(_PROBE, {"queue": queue}).fetchone()
        )
        if paused_until is not None and paused_until > now:
            return _Wait(paused_until=paused_until)
        claimable = bool(has_ready) or (next_due is not None and next_due <= now)
        return _Wait(next_due=next_due, again_now=claimable)

    def _claim(self, queue: str, worker_id: str, limit: int, now: float) -> tuple[list[Job], _Wait]:
        """Lease up to ``limit`` due jobs in one transaction; dead-letter undecodable ones."""
        with self._write() as conn:
            claimed = self._claim_rows(conn, queue, worker_id, limit, now)
        if isinstance(claimed, _Wait):
            return [], claimed
        return self._decode_claimed(claimed, queue, worker_id, now)

    def _claim_rows(
        self, conn: sqlite3.Connection, queue: str, worker_id: str, limit: int, now: float
    ) -> list[Any] | _Wait:
        """Inside a write: lease up to ``limit`` due rows, or say why there are none."""
        paused = conn.execute(PAUSED, (queue,)).fetchone()
        if paused is not None and paused[0] is not None and paused[0] > now:
            return _Wait(paused_until=paused[0])
        conn.execute(PROMOTE, (queue, now))
        # Read once the write lock is held: waiting for it must not shorten the lease.
        lease_until = self.clock.time() + self.options.lease_s
        if self._use_returning:
            claimed = conn.execute(_CLAIM_RETURNING, (worker_id, lease_until, queue, limit))
            rows: list[Any] = claimed.fetchall()
        else:
            rows = conn.execute(_SELECT_READY, (queue, limit)).fetchall()
            conn.executemany(_LEASE_ROW, [(worker_id, lease_until, r[0]) for r in rows])
        if not rows:
            return _Wait(next_due=conn.execute(_NEXT_DUE, (queue,)).fetchone()[0])
        return rows

    def _decode_claimed(
        self, claimed: list[Any], queue: str, worker_id: str, now: float
    ) -> tuple[list[Job], _Wait]:
        """The jobs of leased rows, outside the write that leased them.

        Decoded once the write lock is released (it was half the time a reserve held it): a
        worker that dies now leaves leased rows, which recovery decodes like any other.
        """
        # RETURNING gives rows in no promised order: restore priority, due, enqueue order.
        claimed.sort(key=lambda r: (-r[2], r[3], r[0]))
        jobs: list[Job] = []
        corrupt: list[tuple[int, str, bytes, str]] = []
        for seq, job_id, _, _, attempt, raw in claimed:
            try:
                jobs.append(
                    lifecycle.decode_stored(raw, job_id=job_id, queue=queue, attempt=attempt)
                )
            except DecodeError as exc:
                corrupt.append((seq, job_id, raw, str(exc)))
        keeping = [job for job in jobs if job.result_ttl is not None]
        if corrupt or keeping:
            with self._write() as conn:
                for row in corrupt:
                    bury_claimed(conn, queue, worker_id, row, now)
                if corrupt:
                    trim_dead(conn, [queue], self.options.dead_letter_limit)
                for job in keeping:
                    record_result(conn, lifecycle.started(job, worker_id, now), now)
        if jobs:
            return jobs, _Wait()
        return [], _Wait(again_now=True)  # every claimed row was corrupt: good ones may wait

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        """Apply outcomes in one transaction; return the ids whose lease ``worker_id`` lost."""
        if not outcomes:
            return []
        with self._write() as conn:
            lost, requeued = self._settle_rows(conn, outcomes, worker_id, self.clock.time())
        if requeued:
            self._wakeup.notify()
        return lost

    def settle_and_reserve(
        self, outcomes: Sequence[Outcome], queue: str, *, worker_id: str, limit: int
    ) -> tuple[list[str], list[Job]]:
        """Settle ``outcomes`` and lease the next jobs of ``queue`` in one transaction.

        See :class:`~dqueue.backends.pipelining.SettlesAndReserves`: one write lock taken and
        one commit a batch instead of two, which is what two worker processes queue up for.
        """
        if limit < 1:
            raise ValueError(f"reserve limit must be 1 or more, not {limit}")
        lost: list[str] = []
        requeued = False
        with self._write() as conn:
            now = self.clock.time()
            if outcomes:
                lost, requeued = self._settle_rows(conn, outcomes, worker_id, now)
            claimed = self._claim_rows(conn, queue, worker_id, limit, now)
        if requeued:  # for other workers: this one may have leased the jobs again already
            self._wakeup.notify()
        if isinstance(claimed, _Wait):
            return lost, []
        return lost, self._decode_claimed(claimed, queue, worker_id, now)[0]

    def _settle_rows(
        self, conn: sqlite3.Connection, outcomes: Sequence[Outcome], worker_id: str, now: float
    ) -> tuple[list[str], bool]:
        """Inside a write: apply ``outcomes``; the ids of lost leases, and if any job went back."""
        # Plain acks (most outcomes) go in one statement; with a statement per job, two worker
        # processes spent their time waiting for each other's write lock.
        plain = [o for o in outcomes if is_plain_ack(o)] if self._use_returning else []
        others = [o for o in outcomes if not is_plain_ack(o)] if plain else outcomes
        applied: set[str] = set()
        buried: set[str] = set()
        requeued = False
        if plain:
            applied = ack_plain(conn, plain, worker_id, now, self.options)
        for outcome in others:
            if not apply_outcome(conn, outcome, worker_id, now, self.options):
                continue
            applied.add(outcome.job.id)
            if outcome.kind is OutcomeKind.DEAD:
                buried.add(outcome.job.queue)
            elif outcome.kind is not OutcomeKind.ACK:
                requeued = True
        samples = [
            (o.job.queue, sample)
            for o in outcomes
            if o.job.id in applied and (sample := o.lateness_sample) is not None
        ]
        if samples:
            self._add_lateness(conn, samples)
        if buried:
            trim_dead(conn, buried, self.options.dead_letter_limit)
        return [o.job.id for o in outcomes if o.job.id not in applied], requeued

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        """Extend the leases ``worker_id`` holds; return the ids it lost."""
        if not job_ids:
            return []
        with self._write() as conn:
            until = self.clock.time() + self.options.lease_s
            return [
                job_id
                for job_id in job_ids
                if conn.execute(_RENEW, (until, job_id, worker_id)).rowcount == 0
            ]

    def recover(self) -> int:
        """Put jobs whose lease ran out back (attempt counted), or bury those out of attempts.

        Also drops expired result records, unique keys and finished ids. One transaction, so
        processes that call it at once recover each job once.
        """
        with self._write() as conn:
            recovered = recover_expired(conn, self.clock.time(), self.options)
        if recovered:
            self._wakeup.notify()
        return recovered
