"""SQLite batches: a claim and a settle each hold the write lock briefly, and lose nothing.

Two worker processes share one write lock; what a transaction does while it holds it is what
keeps the second from running (``bench/bench_sqlite.py``, "SQLite: two worker processes").
These tests pin the two cuts (decoding after the claim's commit, plain acks in one statement)
and the guarantees around them: every job to one worker once, each leased at its attempt, and
a worker that dies in the middle of a batch loses none.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dqueue.backends import lifecycle
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.sqlite import SQLiteBackend
from dqueue.clock import ManualClock
from dqueue.job import Job

from .test_sqlite_backend import PROCESS_DEADLINE_S, WORKER, OpenBackend


def _jobs(clock: ManualClock, count: int, **fields: Any) -> list[Job]:
    return [
        Job(id=f"job-{n:04d}", task="app.work", enqueued_at=clock.time(), **fields)
        for n in range(count)
    ]


def _acks(jobs: list[Job]) -> list[Outcome]:
    return [Outcome(job=job, kind=OutcomeKind.ACK) for job in jobs]


def _write_lock_is_free(database: Path) -> bool:
    other = sqlite3.connect(database, timeout=0, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError:
        return False
    finally:
        other.close()  # rolls back
    return True


def test_a_reserve_decodes_its_batch_after_releasing_the_write_lock(
    open_backend: OpenBackend, database: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    backend = open_backend()
    backend.enqueue_many(_jobs(clock, 3))
    decode = lifecycle.decode_stored
    lock_free_while_decoding: list[bool] = []

    def watched(raw: bytes, **fields: Any) -> Job:
        lock_free_while_decoding.append(_write_lock_is_free(database))
        return decode(raw, **fields)

    monkeypatch.setattr(lifecycle, "decode_stored", watched)

    reserved = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=3)

    assert len(reserved) == 3
    assert lock_free_while_decoding == [True, True, True]


def _statements_of(backend: SQLiteBackend, action: Callable[[], object]) -> list[str]:
    conn = backend._pool.get()
    seen: list[str] = []
    conn.set_trace_callback(seen.append)
    try:
        action()
    finally:
        conn.set_trace_callback(None)
    return seen


def test_settling_thirty_two_acks_runs_as_many_statements_as_settling_one(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    backend = open_backend()
    backend.enqueue_many(_jobs(clock, 33))
    one = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=1)
    many = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=32)

    for_one = _statements_of(backend, lambda: backend.settle(_acks(one), worker_id=WORKER))
    for_many = _statements_of(backend, lambda: backend.settle(_acks(many), worker_id=WORKER))

    assert len(for_many) == len(for_one)
    assert backend.counts("default").total == 0


def test_every_job_of_a_batch_claim_is_leased_to_its_worker_at_its_attempt(
    open_backend: OpenBackend, database: Path, clock: ManualClock
) -> None:
    backend = open_backend()
    backend.enqueue_many(_jobs(clock, 5))

    reserved = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=5)

    rows = sqlite3.connect(database).execute(
        "SELECT id, state, worker_id, attempt, lease_until FROM jobs ORDER BY id"
    )
    lease_until = clock.time() + backend.options.lease_s
    assert [row[1:] for row in rows] == [(1, WORKER, 1, lease_until)] * 5
    assert backend.renew([job.id for job in reserved], worker_id=WORKER) == []
    other_worker = backend.settle(_acks(reserved), worker_id="host:2:other")
    assert other_worker == [job.id for job in reserved]
    assert backend.counts("default").in_flight == 5


def test_a_batch_of_acks_refuses_the_one_whose_attempt_the_worker_no_longer_holds(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    backend = open_backend()
    backend.enqueue_many(_jobs(clock, 2, max_attempts=3))
    first_run = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)
    clock.advance(backend.options.lease_s + 1)
    assert backend.recover() == 2  # the lease ran out; the same worker takes them again
    second_run = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)

    lost = backend.settle([*_acks(first_run[:1]), *_acks(second_run[1:])], worker_id=WORKER)

    assert lost == [first_run[0].id]
    assert backend.counts("default").in_flight == 1
    assert backend.settle(_acks(second_run[:1]), worker_id=WORKER) == []
    assert backend.counts("default").total == 0


def test_acks_of_a_batch_are_remembered_so_their_ids_are_not_stored_again(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    backend = open_backend()
    jobs = _jobs(clock, 4)
    backend.enqueue_many(jobs)
    reserved = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=4)
    assert backend.settle(_acks(reserved), worker_id=WORKER) == []

    backend.enqueue_many(jobs)

    assert backend.counts("default").total == 0


_DIES_MID_BATCH = textwrap.dedent(
    """
    import os, signal, sys
    from dqueue.backends.base import Outcome, OutcomeKind
    from dqueue.backends.sqlite import SQLiteBackend
    from dqueue.settings import Settings

    backend = SQLiteBackend.from_settings(Settings(SQLITE_PATH=sys.argv[1]))
    batch = backend.reserve("default", worker_id="doomed", timeout_s=0, limit=10)
    assert len(batch) == 10, batch
    acks = [Outcome(job=job, kind=OutcomeKind.ACK) for job in batch[:3]]
    assert backend.settle(acks, worker_id="doomed") == []
    os.kill(os.getpid(), signal.SIGKILL)  # three run and settled, seven reserved: dies
    """
)


def test_a_worker_killed_in_the_middle_of_a_batch_loses_no_job(
    open_backend: OpenBackend, database: Path, tmp_path: Path
) -> None:
    backend = open_backend(clock=ManualClock(time.time()))
    jobs = [
        Job(id=f"job-{n:04d}", task="app.work", enqueued_at=time.time(), max_attempts=2)
        for n in range(12)
    ]
    backend.enqueue_many(jobs)
    script = tmp_path / "dies.py"
    script.write_text(_DIES_MID_BATCH)

    process = subprocess.run(
        [sys.executable, str(script), str(database)],
        capture_output=True,
        text=True,
        timeout=PROCESS_DEADLINE_S,
    )
    assert process.returncode == -9, process.stderr

    later = open_backend(clock=ManualClock(time.time() + 3600))  # past every lease
    assert later.recover() == 7
    left = later.reserve("default", worker_id=WORKER, timeout_s=0, limit=20)
    assert sorted(job.id for job in left) == [job.id for job in jobs[3:]]
    assert sorted(job.attempt for job in left) == [1, 1] + [2] * 7
