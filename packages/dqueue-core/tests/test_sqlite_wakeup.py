"""Cross-process wake-ups of the SQLite backend: the named pipe beside the database file.

Waiters here poll only every 20 s, so a job that reaches them within seconds was delivered by
the wake-up; the bounds are generous correctness bounds, not benchmarks.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import textwrap
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.backends.sqlite import SQLiteBackend
from dqueue.backends.sqlite_wakeup import WAKE_SUFFIX
from dqueue.job import Job
from dqueue.settings import Settings

pytestmark = pytest.mark.skipif(os.name != "posix", reason="named pipes are POSIX")

WORKER = "host:1:w"
SLOW_POLL_S = 20.0
WAKE_BOUND_S = 10.0
DEADLINE_S = 60.0

_WAITER = textwrap.dedent(
    """
    import sys, time
    from dqueue.backends.sqlite import SQLiteBackend
    from dqueue.settings import Settings

    backend = SQLiteBackend.from_settings(Settings(SQLITE_PATH=sys.argv[1], POLL_INTERVAL=20.0))
    started = time.monotonic()
    jobs = backend.reserve("default", worker_id="host:2:w", timeout_s=30.0)
    print(" ".join(job.id for job in jobs), time.monotonic() - started, flush=True)
    backend.close()
    """
)

_PRODUCER = textwrap.dedent(
    """
    import sys, time
    from dqueue.backends.sqlite import SQLiteBackend
    from dqueue.job import Job
    from dqueue.settings import Settings

    backend = SQLiteBackend.from_settings(Settings(SQLITE_PATH=sys.argv[1]))
    backend.enqueue(Job(id="from-producer", task="app.work", enqueued_at=time.time()))
    backend.close()
    """
)


@pytest.fixture
def backends(database: Path) -> Iterator[list[SQLiteBackend]]:
    opened: list[SQLiteBackend] = []
    yield opened
    for backend in opened:
        backend.close()


def _open(
    opened: list[SQLiteBackend], database: Path, poll_s: float = SLOW_POLL_S
) -> SQLiteBackend:
    backend = SQLiteBackend.from_settings(Settings(SQLITE_PATH=str(database), POLL_INTERVAL=poll_s))
    opened.append(backend)
    return backend


def _job(number: int) -> Job:
    return Job(id=f"job-{number}", task="app.work", enqueued_at=time.time())


def _pipe(database: Path) -> Path:
    return Path(str(database) + WAKE_SUFFIX)


def _wait_for_a_listener(pipe: Path) -> None:
    """Return once some process holds the pipe's read end (opening for writing succeeds)."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        try:
            fd = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # not created yet, or no reader yet
            time.sleep(0.01)
            continue
        os.close(fd)
        return
    raise AssertionError(f"no process listened on {pipe} within {DEADLINE_S} s")


def test_a_reserve_in_another_process_wakes_for_a_job_enqueued_here_before_its_poll(
    database: Path, backends: list[SQLiteBackend]
) -> None:
    producer = _open(backends, database)
    waiter = subprocess.Popen(
        [sys.executable, "-c", _WAITER, str(database)], stdout=subprocess.PIPE, text=True
    )
    _wait_for_a_listener(_pipe(database))  # the waiter found nothing and sleeps on the pipe
    producer.enqueue(_job(1))
    out, _ = waiter.communicate(timeout=DEADLINE_S)

    job_ids, waited = out.split()
    assert job_ids == "job-1"
    assert float(waited) < WAKE_BOUND_S


def test_the_wake_pipe_is_created_beside_the_database_with_its_permissions(
    database: Path, backends: list[SQLiteBackend]
) -> None:
    backend = _open(backends, database)
    os.chmod(database, 0o660)
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0.01) == []

    mode = os.stat(_pipe(database)).st_mode
    assert stat.S_ISFIFO(mode)
    assert stat.S_IMODE(mode) == 0o660


def test_a_file_in_the_way_of_the_pipe_is_left_alone_and_polling_still_finds_jobs(
    database: Path, backends: list[SQLiteBackend]
) -> None:
    _pipe(database).write_text("not a pipe")
    backend = _open(backends, database, poll_s=0.02)
    producer = subprocess.Popen([sys.executable, "-c", _PRODUCER, str(database)])

    jobs = backend.reserve("default", worker_id=WORKER, timeout_s=DEADLINE_S)
    backend.enqueue(_job(2))  # the notifier must not write into the file either

    assert producer.wait(timeout=DEADLINE_S) == 0
    assert [job.id for job in jobs] == ["from-producer"]
    assert _pipe(database).read_text() == "not a pipe"


def test_an_enqueue_with_no_process_listening_neither_blocks_nor_fails(
    database: Path, backends: list[SQLiteBackend]
) -> None:
    os.mkfifo(_pipe(database))
    backend = _open(backends, database)

    backend.enqueue(_job(1))
    backend.enqueue_many([_job(2), _job(3)])

    assert backend.counts("default").ready == 3


def test_an_enqueue_into_a_full_pipe_neither_blocks_nor_fails(
    database: Path, backends: list[SQLiteBackend]
) -> None:
    pipe = _pipe(database)
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # a listener that never reads
    writer = os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    try:
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(writer, b"\0" * 4096)
        backend = _open(backends, database)
        backend.enqueue(_job(1))
        assert backend.counts("default").ready == 1
    finally:
        os.close(writer)
        os.close(reader)


def test_a_forked_childs_enqueue_wakes_the_parents_waiter(
    database: Path, backends: list[SQLiteBackend]
) -> None:
    backend = _open(backends, database)
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0.01) == []  # pipe fds open
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads, on 3.12+
        pid = os.fork()
    if pid == 0:  # the child: the inherited backend, on descriptors of its own
        code = 1
        try:
            backend.enqueue(_job(1))
            code = 0
        finally:
            os._exit(code)
    started = time.monotonic()
    jobs = backend.reserve("default", worker_id=WORKER, timeout_s=30.0)
    waited = time.monotonic() - started
    _, status = os.waitpid(pid, 0)

    assert os.waitstatus_to_exitcode(status) == 0
    assert [job.id for job in jobs] == ["job-1"]
    assert waited < WAKE_BOUND_S


def test_closing_the_backend_stops_its_listener_thread(
    database: Path, backends: list[SQLiteBackend]
) -> None:
    backend = _open(backends, database)
    backend.reserve("default", worker_id=WORKER, timeout_s=0.01)
    listening = [t for t in threading.enumerate() if t.name == "dqueue-sqlite-wake"]

    backend.close()

    assert len(listening) == 1
    listening[0].join(timeout=DEADLINE_S)
    assert not listening[0].is_alive()


def test_a_process_that_sigpipe_would_kill_enqueues_without_touching_the_pipe(
    database: Path, backends: list[SQLiteBackend]
) -> None:
    pipe = _pipe(database)
    os.mkfifo(pipe)
    reader = os.open(pipe, os.O_RDONLY | os.O_NONBLOCK)  # a listener is there
    script = "import signal; signal.signal(signal.SIGPIPE, signal.SIG_DFL)\n" + _PRODUCER
    try:
        producer = subprocess.run([sys.executable, "-c", script, str(database)], check=False)
        written = os.read(reader, 1)  # b"" (end of file, the producer is gone): nothing came
    finally:
        os.close(reader)

    assert producer.returncode == 0
    assert written == b""
    assert _open(backends, database).counts("default").ready == 1
