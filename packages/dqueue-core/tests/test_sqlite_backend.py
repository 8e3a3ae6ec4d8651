"""SQLite-specific behaviour: the file, its schema, corrupt rows, processes and threads.

What every backend promises is tested once, by the contract suite in the root ``tests/contract``;
these tests cover what only a file shared by processes can get wrong.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.inspection import JobState
from dqueue.backends.sqlite import SQLiteBackend
from dqueue.backends.sqlite_schema import APPLICATION_ID, SCHEMA_VERSION
from dqueue.backends.workers import WorkerBeat
from dqueue.clock import SYSTEM_CLOCK, ManualClock
from dqueue.errors import BackendUnavailable, ConfigurationError
from dqueue.job import Job, JobFailure
from dqueue.settings import Settings

WORKER = "host:1:w"
PROCESS_DEADLINE_S = 60.0

OpenBackend = Callable[..., SQLiteBackend]


def _job(clock: ManualClock, number: int, **fields: Any) -> Job:
    return Job(id=f"job-{number:06d}", task="app.work", enqueued_at=clock.time(), **fields)


def _raw(database: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(database, isolation_level=None) as conn:
        rows = conn.execute(sql, params).fetchall()
    conn.close()
    return rows


def _insert_row(database: Path, job_id: str, payload_sql: str, *, priority: int = 0) -> None:
    _raw(
        database,
        "INSERT INTO jobs (id, queue, state, priority, due_at, attempt, payload)"
        f" VALUES (?, 'default', 0, ?, 0, 0, {payload_sql})",
        job_id,
        priority,
    )


# -- the file ---------------------------------------------------------------------------------


def test_jobs_and_state_survive_closing_and_reopening_the_file(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    first = open_backend()
    ready = _job(clock, 1, args=("kept",), result_ttl=600.0)
    first.enqueue_many([ready, _job(clock, 2, run_after=clock.time() + 60)])
    first.enqueue(_job(clock, 3, queue="broken"))
    doomed = first.reserve("broken", worker_id=WORKER, timeout_s=0)[0]
    why = JobFailure(exception_type="E", message="m")
    first.settle([Outcome(job=doomed, kind=OutcomeKind.DEAD, failure=why)], worker_id=WORKER)
    first.pause("paused", clock.time() + 100)
    first.close()

    second = open_backend()

    counts = second.counts("default")
    assert (counts.ready, counts.delayed) == (1, 1)
    assert [letter.job.id for letter in second.dead_letters("broken")] == [doomed.id]
    assert second.paused_until("paused") == clock.time() + 100
    assert second.reserve("default", worker_id=WORKER, timeout_s=0) == [
        ready.with_changes(attempt=1)
    ]
    assert second.result(ready.id) is not None


def test_a_lease_held_when_the_process_died_is_recovered_after_reopening(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    first = open_backend()
    first.enqueue(_job(clock, 1, max_attempts=2))
    first.reserve("default", worker_id=WORKER, timeout_s=0)
    first.close()  # the worker is gone without settling

    second = open_backend()
    clock.advance(second.options.lease_s + 1)

    assert second.recover() == 1
    assert [job.attempt for job in second.reserve("default", worker_id="w2", timeout_s=0)] == [2]


def test_a_new_file_is_marked_as_a_dqueue_database_in_wal_mode(
    open_backend: OpenBackend, database: Path
) -> None:
    open_backend()

    assert _raw(database, "PRAGMA application_id") == [(APPLICATION_ID,)]
    assert _raw(database, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert _raw(database, "PRAGMA journal_mode") == [("wal",)]


def test_a_file_that_is_not_sqlite_is_refused_with_a_configuration_error(
    open_backend: OpenBackend, database: Path
) -> None:
    database.write_text("these are my notes, not a database\n" * 100)

    with pytest.raises(ConfigurationError, match="DQUEUE_SQLITE_PATH .* is not a dqueue database"):
        open_backend()


def test_another_applications_database_is_refused_and_left_untouched(
    open_backend: OpenBackend, database: Path
) -> None:
    _raw(database, "CREATE TABLE users (name TEXT)")

    with pytest.raises(ConfigurationError, match="holds other tables \\(users\\)"):
        open_backend()

    assert _raw(database, "SELECT name FROM sqlite_master") == [("users",)]


def test_a_database_written_by_a_newer_dqueue_is_refused(
    open_backend: OpenBackend, database: Path
) -> None:
    open_backend().close()
    _raw(database, f"PRAGMA user_version = {SCHEMA_VERSION + 1}")

    with pytest.raises(ConfigurationError, match="newer than this dqueue reads"):
        open_backend()


@pytest.mark.parametrize("path", ["", ":memory:"])
def test_a_path_that_is_not_a_file_is_refused(path: str) -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_SQLITE_PATH"):
        SQLiteBackend.from_settings(Settings(SQLITE_PATH=path))


def test_a_path_in_a_missing_directory_is_refused(
    open_backend: OpenBackend, tmp_path: Path
) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        open_backend(tmp_path / "missing" / "queue.sqlite3")


def test_a_database_locked_past_the_busy_timeout_is_reported_as_unavailable(
    open_backend: OpenBackend, database: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(SQLiteBackend, "busy_timeout_s", 0.05)
    backend = open_backend()
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(BackendUnavailable, match="locked"):
            backend.enqueue(_job(clock, 1))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()

    backend.enqueue(_job(clock, 2))
    assert backend.counts("default").ready == 1


# -- corrupt rows -----------------------------------------------------------------------------


def test_a_corrupt_payload_is_dead_lettered_and_the_next_good_job_returned(
    open_backend: OpenBackend, database: Path, clock: ManualClock
) -> None:
    backend = open_backend()
    good = _job(clock, 1)
    backend.enqueue(good)
    _insert_row(database, "mangled", '\'{"v": 1, "id": "mangled", trunc\'', priority=5)

    reserved = backend.reserve("default", worker_id=WORKER, timeout_s=0)

    assert [job.id for job in reserved] == [good.id]
    letters = backend.dead_letters("default")
    assert len(letters) == 1
    assert letters[0].raw == '{"v": 1, "id": "mangled", trunc'
    assert letters[0].failure.exception_type == "dqueue.errors.DecodeError"
    assert "not JSON" in letters[0].failure.message
    assert "mangled" in letters[0].failure.message


def test_a_payload_that_is_not_utf8_is_dead_lettered(
    open_backend: OpenBackend, database: Path
) -> None:
    backend = open_backend()
    _insert_row(database, "binary", "CAST(x'7b22ff22fe7d' AS TEXT)")

    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []

    letters = backend.dead_letters("default")
    assert [letter.failure.exception_type for letter in letters] == ["dqueue.errors.DecodeError"]
    assert letters[0].raw is not None
    assert letters[0].raw.startswith('{"')


def test_a_payload_missing_required_fields_is_dead_lettered_with_the_reason(
    open_backend: OpenBackend, database: Path
) -> None:
    backend = open_backend()
    _insert_row(database, "no-task", '\'{"v": 1, "id": "no-task"}\'')

    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []

    assert "lacks task" in backend.dead_letters("default")[0].failure.message


def test_retry_dead_leaves_undecodable_letters_where_they_are(
    open_backend: OpenBackend, database: Path
) -> None:
    backend = open_backend()
    _insert_row(database, "junk", "'junk'")
    backend.reserve("default", worker_id=WORKER, timeout_s=0)

    assert backend.retry_dead("default") == 0

    assert backend.counts("default").dead == 1


# -- internals worth pinning ------------------------------------------------------------------


def test_reserve_without_update_returning_claims_in_the_same_order(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    backend = open_backend()
    backend._use_returning = False  # what SQLite older than 3.35 runs
    low, high = _job(clock, 1), _job(clock, 2, priority=3)
    backend.enqueue_many([low, high])

    reserved = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=5)

    assert [(job.id, job.attempt) for job in reserved] == [(high.id, 1), (low.id, 1)]
    assert backend.settle([Outcome(job=reserved[0], kind=OutcomeKind.ACK)], worker_id=WORKER) == []


def test_lateness_samples_are_capped_per_queue(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    backend = open_backend()
    backend.enqueue_many([_job(clock, number) for number in range(1300)])
    while batch := backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=100):
        outcomes = [Outcome(job=job, kind=OutcomeKind.ACK, started_at=job.due_at) for job in batch]
        backend.settle(outcomes, worker_id=WORKER)

    samples = backend.counts("default").recent_lateness

    assert len(samples) == 1000


def test_recover_drops_expired_results_and_unique_keys(
    open_backend: OpenBackend, database: Path, clock: ManualClock
) -> None:
    backend = open_backend()
    backend.enqueue(_job(clock, 1, result_ttl=10.0, unique_key="k", unique_for=10.0))
    [job] = backend.reserve("default", worker_id=WORKER, timeout_s=0)
    backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id=WORKER)
    clock.advance(11)

    backend.recover()

    assert _raw(database, "SELECT count(*) FROM results") == [(0,)]
    assert _raw(database, "SELECT count(*) FROM uniques") == [(0,)]


def test_recover_forgets_finished_ids_once_their_retention_passed(
    open_backend: OpenBackend, database: Path, clock: ManualClock
) -> None:
    backend = open_backend()
    backend.enqueue(_job(clock, 1))
    [job] = backend.reserve("default", worker_id=WORKER, timeout_s=0)
    backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id=WORKER)
    backend.recover()
    assert _raw(database, "SELECT count(*) FROM finished") == [(1,)]
    clock.advance(backend.options.id_retention_s)

    backend.recover()

    assert _raw(database, "SELECT count(*) FROM finished") == [(0,)]


def test_a_file_of_schema_version_1_gains_the_finished_ids_and_keeps_its_jobs(
    open_backend: OpenBackend, database: Path, clock: ManualClock
) -> None:
    open_backend().enqueue(_job(clock, 1))
    _raw(database, "DROP TABLE finished")
    _raw(database, "DROP INDEX dead_by_id")
    _raw(database, "ALTER TABLE jobs DROP COLUMN cancelled")
    _raw(database, "DROP TABLE workers")
    _raw(database, "ALTER TABLE jobs DROP COLUMN progress")
    _raw(database, "PRAGMA user_version = 1")

    backend = open_backend()

    assert _raw(database, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    [job] = backend.reserve("default", worker_id=WORKER, timeout_s=0)
    backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id=WORKER)
    assert backend.enqueue(_job(clock, 1)) == job.id
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []


def test_each_thread_gets_its_own_connection(open_backend: OpenBackend) -> None:
    backend = open_backend()
    seen: list[int] = []

    def remember() -> None:
        seen.append(id(backend._pool.get()))

    threads = [threading.Thread(target=remember) for _ in range(2)]
    for thread in threads:
        thread.start()
        thread.join()
    remember()

    assert len(seen) == 3
    assert seen[2] not in seen[:2]


def test_a_forked_child_opens_its_own_connection_and_its_jobs_are_seen(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    backend = open_backend()
    backend.enqueue(_job(clock, 1))  # the parent's connection is open before the fork
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, on 3.12+
        pid = os.fork()
    if pid == 0:  # the child: use the inherited backend, then leave without cleanup
        code = 1
        try:
            backend.enqueue(_job(clock, 2))
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert backend.counts("default").ready == 2


# -- several processes --------------------------------------------------------------------------

_CONSUMER = textwrap.dedent(
    """
    import json, os, sys, time
    from dqueue.backends.base import Outcome, OutcomeKind
    from dqueue.backends.sqlite import SQLiteBackend
    from dqueue.settings import Settings

    path, name, out, directory, peers = sys.argv[1:6]
    backend = SQLiteBackend.from_settings(Settings(SQLITE_PATH=path))
    open(os.path.join(directory, name + ".ready"), "w").close()
    deadline = time.monotonic() + 60
    while sum(f.endswith(".ready") for f in os.listdir(directory)) < int(peers):
        if time.monotonic() > deadline:
            sys.exit("peers never became ready")
        time.sleep(0.005)
    taken = []
    while batch := backend.reserve("default", worker_id=name, timeout_s=0, limit=4):
        taken.extend(job.id for job in batch)
        outcomes = [Outcome(job=job, kind=OutcomeKind.ACK) for job in batch]
        if backend.settle(outcomes, worker_id=name):
            sys.exit("lost a lease it held")
    with open(out, "w") as handle:
        json.dump(taken, handle)
    """
)

_PRODUCER = textwrap.dedent(
    """
    import sys, time
    from dqueue.backends.sqlite import SQLiteBackend
    from dqueue.job import Job
    from dqueue.settings import Settings

    path, name = sys.argv[1:3]
    backend = SQLiteBackend.from_settings(Settings(SQLITE_PATH=path))
    for number in range(50):
        backend.enqueue(Job(id=f"{name}-{number}", task="app.work", enqueued_at=time.time()))
    """
)


def _run_all(commands: list[list[str]]) -> None:
    processes = [
        subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for command in commands
    ]
    for process in processes:
        _, stderr = process.communicate(timeout=PROCESS_DEADLINE_S)
        assert process.returncode == 0, stderr


def test_two_processes_reserving_at_once_get_disjoint_jobs_and_all_of_them(
    open_backend: OpenBackend, database: Path, tmp_path: Path
) -> None:
    backend = open_backend(clock=ManualClock(time.time()))
    ids = [f"job-{number:05d}" for number in range(2000)]
    backend.enqueue_many(
        [Job(id=job_id, task="app.work", enqueued_at=time.time()) for job_id in ids]
    )
    script = tmp_path / "consumer.py"
    script.write_text(_CONSUMER)
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    outputs = [tmp_path / f"taken-{index}.json" for index in range(2)]

    _run_all(
        [
            [sys.executable, str(script), str(database), f"p{index}", str(out), str(barrier), "2"]
            for index, out in enumerate(outputs)
        ]
    )

    taken = [json.loads(out.read_text()) for out in outputs]
    assert set(taken[0]).isdisjoint(taken[1])
    assert sorted(taken[0] + taken[1]) == ids
    assert backend.counts("default").total == 0


def test_processes_opening_a_new_file_at_once_share_one_database(
    database: Path, tmp_path: Path, open_backend: OpenBackend
) -> None:
    script = tmp_path / "producer.py"
    script.write_text(_PRODUCER)

    _run_all([[sys.executable, str(script), str(database), f"p{index}"] for index in range(3)])

    assert open_backend().counts("default").ready == 150


_RECOVERER = textwrap.dedent(
    """
    import sys
    from dqueue.backends.sqlite import SQLiteBackend
    from dqueue.settings import Settings

    backend = SQLiteBackend.from_settings(Settings(SQLITE_PATH=sys.argv[1]))
    print(backend.recover())
    """
)


def test_processes_recovering_at_once_recover_each_expired_job_once(
    open_backend: OpenBackend, database: Path, tmp_path: Path
) -> None:
    an_hour_ago = ManualClock(time.time() - 3600)  # the leases it grants expired long ago
    backend = open_backend(clock=an_hour_ago)
    backend.enqueue_many([_job(an_hour_ago, n, max_attempts=2) for n in range(300)])
    assert len(backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=300)) == 300
    script = tmp_path / "recoverer.py"
    script.write_text(_RECOVERER)

    processes = [
        subprocess.Popen(
            [sys.executable, str(script), str(database)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    recovered = [int(process.communicate(timeout=PROCESS_DEADLINE_S)[0]) for process in processes]

    assert sum(recovered) == 300
    assert backend.counts("default").ready == 300


def test_a_blocking_reserve_sees_a_job_enqueued_by_another_process(
    open_backend: OpenBackend, database: Path, tmp_path: Path
) -> None:
    backend = open_backend(clock=SYSTEM_CLOCK)
    script = tmp_path / "producer.py"
    script.write_text(_PRODUCER)
    producer = subprocess.Popen([sys.executable, str(script), str(database), "remote"])
    try:
        jobs = backend.reserve("default", worker_id=WORKER, timeout_s=PROCESS_DEADLINE_S)
    finally:
        producer.wait(timeout=PROCESS_DEADLINE_S)

    assert len(jobs) == 1
    assert jobs[0].id.startswith("remote-")


class _ClaimSignal(SQLiteBackend):
    """Tells the test when a reserve has read its clock and is about to take the write lock."""

    claiming = threading.Event()

    def _claim(self, queue: str, worker_id: str, limit: int, now: float) -> Any:
        self.claiming.set()
        return super()._claim(queue, worker_id, limit, now)


def test_a_lease_counts_from_when_the_write_lock_was_taken_not_from_the_call(
    database: Path, clock: ManualClock
) -> None:
    settings = Settings(SQLITE_PATH=str(database), LEASE_SECONDS=30.0)
    backend = _ClaimSignal.from_settings(settings, clock=clock)
    backend.enqueue(_job(clock, 1))
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")  # another process writes for a long time
    taken: list[Job] = []
    reserving = threading.Thread(
        target=lambda: taken.extend(backend.reserve("default", worker_id=WORKER, timeout_s=0))
    )
    reserving.start()
    assert backend.claiming.wait(PROCESS_DEADLINE_S)
    clock.advance(20)
    blocker.execute("COMMIT")
    blocker.close()
    reserving.join(PROCESS_DEADLINE_S)
    assert len(taken) == 1

    clock.advance(29)  # 49 s after the call, 29 s after the lease was granted
    assert backend.recover() == 0
    backend.close()


def test_a_file_of_schema_version_2_gains_the_cancelled_mark_and_keeps_its_jobs(
    open_backend: OpenBackend, database: Path, clock: ManualClock
) -> None:
    open_backend().enqueue_many([_job(clock, 1), _job(clock, 2)])
    _raw(database, "DROP INDEX dead_by_id")
    _raw(database, "ALTER TABLE jobs DROP COLUMN cancelled")
    _raw(database, "DROP TABLE workers")
    _raw(database, "ALTER TABLE jobs DROP COLUMN progress")
    _raw(database, "PRAGMA user_version = 2")

    backend = open_backend()

    assert _raw(database, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    [running] = backend.reserve("default", worker_id=WORKER, timeout_s=0)
    waiting = _job(clock, 2)
    assert backend.cancel([running.id, waiting.id]) == [running.id, waiting.id]
    backend.settle([Outcome(job=running, kind=OutcomeKind.RELEASE)], worker_id=WORKER)
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []


def test_a_file_of_schema_version_3_gains_the_workers_and_keeps_its_jobs(
    open_backend: OpenBackend, database: Path, clock: ManualClock
) -> None:
    open_backend().enqueue(_job(clock, 1))
    _raw(database, "DROP TABLE workers")
    _raw(database, "ALTER TABLE jobs DROP COLUMN progress")
    _raw(database, "PRAGMA user_version = 3")

    backend = open_backend()

    assert _raw(database, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    beat = WorkerBeat(worker_id="w", name="q/0", queue="default", host="h", pid=1, started_at=0)
    backend.beat(beat, ttl_s=60)
    assert [one.worker_id for one in backend.workers()] == ["w"]
    assert [job.id for job in backend.reserve("default", worker_id=WORKER, timeout_s=0)] == [
        _job(clock, 1).id
    ]


def test_a_file_of_schema_version_4_gains_the_progress_of_jobs_in_flight(
    open_backend: OpenBackend, database: Path, clock: ManualClock
) -> None:
    open_backend().enqueue(_job(clock, 1))
    _raw(database, "ALTER TABLE jobs DROP COLUMN progress")
    _raw(database, "PRAGMA user_version = 4")

    backend = open_backend()

    assert _raw(database, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    [running] = backend.reserve("default", worker_id=WORKER, timeout_s=0)
    assert backend.set_progress(running, {"done": 1}, worker_id=WORKER) is True
    view = backend.job(running.id)
    assert view is not None
    assert view.progress == {"done": 1}


def test_every_page_of_jobs_reads_an_index_in_its_order(
    open_backend: OpenBackend, clock: ManualClock
) -> None:
    backend = open_backend()
    backend.enqueue_many([_job(clock, number) for number in range(1, 7)])
    backend.enqueue_many([_job(clock, number, run_after=clock.time() + 60) for number in (7, 8)])
    reserved = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=4)
    failure = JobFailure(exception_type="builtins.ValueError", message="boom")
    dead = [Outcome(job=job, kind=OutcomeKind.DEAD, failure=failure) for job in reserved[:2]]
    backend.settle(dead, worker_id=WORKER)
    conn = backend._pool.get()  # the connection this thread's reads use
    statements: list[str] = []
    conn.set_trace_callback(statements.append)
    for state in JobState:
        first = backend.jobs("default", state, limit=1)
        assert first.cursor is not None
        backend.jobs("default", state, limit=1, cursor=first.cursor)
    conn.set_trace_callback(None)

    reads = [sql for sql in statements if sql.startswith("SELECT")]
    assert len(reads) >= 2 * len(JobState)
    for sql in reads:
        plan = " ".join(row[-1] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}"))
        assert "USING INDEX" in plan, sql
        assert "SCAN" not in plan, sql
        assert "TEMP B-TREE" not in plan, sql
