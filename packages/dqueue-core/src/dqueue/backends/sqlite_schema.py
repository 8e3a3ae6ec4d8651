"""The SQLite backend's file: its schema, its version, and connections to it.

A dqueue database is marked with ``PRAGMA application_id`` and versioned with ``PRAGMA
user_version``, both kept in the file header, so a file is recognised (or refused) before any
table is read. The schema is created on first open, inside a write transaction so that several
processes opening a new file at once create it once.

Connections are one per thread and per process: a thread never shares its connection, and a
connection opened before ``fork`` is never used, nor closed, by the child (SQLite's "how to
corrupt a database", section 2.6).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from typing import Final, TypeVar

from ..errors import ConfigurationError

__all__ = [
    "APPLICATION_ID",
    "DELAYED",
    "LEASED",
    "PROMOTE",
    "READY",
    "SCHEMA_VERSION",
    "ConnectionPool",
    "is_busy",
    "resolve_path",
    "retry_while_busy",
]

_T = TypeVar("_T")

_logger = logging.getLogger("dqueue.backends.sqlite")

#: ``dqUE`` in the file header: this file is a dqueue database.
APPLICATION_ID: Final = 0x64715545
#: The schema this code reads and writes. A newer file is refused, an older one migrated.
SCHEMA_VERSION: Final = 5

#: ``jobs.state``: waiting and due (or due once promoted), leased to a worker, waiting until
#: ``due_at``. Delayed jobs live apart from ready ones so that both lookups use an index.
READY: Final = 0
LEASED: Final = 1
DELAYED: Final = 2

#: Delayed jobs of a queue (``?``) that are due at a time (``?``) become ready.
PROMOTE: Final = (
    f"UPDATE jobs SET state = {READY} WHERE queue = ? AND state = {DELAYED} AND due_at <= ?"
)

#: Version 2: ids of finished jobs, kept for ``id_retention_s`` (enqueue is idempotent by id).
_FINISHED: Final = (
    "CREATE TABLE finished (id TEXT PRIMARY KEY, expires_at REAL NOT NULL) WITHOUT ROWID",
    "CREATE INDEX finished_expiry ON finished (expires_at)",
)
#: Version 3: the cancelled mark of a job in flight (see dqueue.backends.lifecycle), and dead
#: letters found by id alone (job inspection finds a job without knowing its queue).
_CANCELLED: Final = (
    "ALTER TABLE jobs ADD COLUMN cancelled INTEGER NOT NULL DEFAULT 0",
    "CREATE INDEX dead_by_id ON dead (id)",
)
#: Version 4: each live worker's last beat (dqueue.backends.workers), until ``alive_until``.
_WORKERS: Final = (
    """CREATE TABLE workers (
        worker_id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        queue TEXT NOT NULL,
        host TEXT NOT NULL,
        pid INTEGER NOT NULL,
        started_at REAL NOT NULL,
        beat_at REAL NOT NULL,
        job_id TEXT,
        job_task TEXT,
        job_started_at REAL,
        processed INTEGER NOT NULL,
        failed INTEGER NOT NULL,
        alive_until REAL NOT NULL
    ) WITHOUT ROWID""",
)
#: Version 5: the progress the run of a leased job reported (JSON), cleared when it waits again.
_PROGRESS: Final = ("ALTER TABLE jobs ADD COLUMN progress TEXT",)
#: What brings a file of each older version to the next one.
_MIGRATIONS: Final = {1: _FINISHED, 2: _CANCELLED, 3: _WORKERS, 4: _PROGRESS}

_SCHEMA: Final = (
    # ``seq`` is the enqueue order; ``attempt`` is authoritative (the payload keeps the value it
    # was stored with), so a reserve never rewrites the JSON.
    """CREATE TABLE jobs (
        seq INTEGER PRIMARY KEY,
        id TEXT NOT NULL UNIQUE,
        queue TEXT NOT NULL,
        state INTEGER NOT NULL,
        priority INTEGER NOT NULL,
        due_at REAL NOT NULL,
        attempt INTEGER NOT NULL,
        worker_id TEXT,
        lease_until REAL,
        unique_key TEXT,
        payload TEXT NOT NULL
    )""",
    # Reserve reads the first ``limit`` entries of this index: O(log n) however many wait.
    f"CREATE INDEX jobs_ready ON jobs (queue, priority DESC, due_at, seq) WHERE state = {READY}",
    f"CREATE INDEX jobs_delayed ON jobs (queue, due_at) WHERE state = {DELAYED}",
    f"CREATE INDEX jobs_leased ON jobs (queue, lease_until) WHERE state = {LEASED}",
    "CREATE TABLE queues (name TEXT PRIMARY KEY, paused_until REAL) WITHOUT ROWID",
    "CREATE TABLE uniques (key TEXT PRIMARY KEY, job_id TEXT NOT NULL, expires_at REAL)"
    " WITHOUT ROWID",
    "CREATE INDEX uniques_expiry ON uniques (expires_at) WHERE expires_at IS NOT NULL",
    """CREATE TABLE dead (
        seq INTEGER PRIMARY KEY,
        queue TEXT NOT NULL,
        id TEXT NOT NULL,
        payload TEXT NOT NULL,
        failure TEXT NOT NULL,
        died_at REAL NOT NULL,
        raw TEXT,
        UNIQUE (queue, id)
    )""",
    "CREATE INDEX dead_by_queue ON dead (queue, seq)",
    "CREATE TABLE results (job_id TEXT PRIMARY KEY, record TEXT NOT NULL, expires_at REAL NOT NULL)"
    " WITHOUT ROWID",
    "CREATE INDEX results_expiry ON results (expires_at)",
    # One row per settled batch (a JSON list of seconds): one insert per batch, not per job.
    "CREATE TABLE lateness (seq INTEGER PRIMARY KEY, queue TEXT NOT NULL, samples TEXT NOT NULL)",
    "CREATE INDEX lateness_by_queue ON lateness (queue, seq)",
    *_FINISHED,
    *_CANCELLED,
    *_WORKERS,
    *_PROGRESS,
)

# Connections a forked child inherited: kept referenced forever so that the child never closes
# (and so never checkpoints or unlocks through) its parent's SQLite handles.
_inherited: list[sqlite3.Connection] = []


def resolve_path(path: str) -> str:
    """The absolute path of the database file named by ``DQUEUE_SQLITE_PATH``.

    Raises:
        ConfigurationError: the path is empty, in-memory, or its directory does not exist.
    """
    if not path or path == ":memory:" or path.startswith("file::memory:"):
        raise ConfigurationError(
            f"DQUEUE_SQLITE_PATH = {path!r} is not a file: every worker process must open the "
            "same file (use dqueue.backends.memory.MemoryBackend for an in-process queue)"
        )
    absolute = os.path.abspath(os.path.expanduser(path))
    directory = os.path.dirname(absolute)
    if not os.path.isdir(directory):
        problem = "is not a directory" if os.path.exists(directory) else "does not exist"
        raise ConfigurationError(f"DQUEUE_SQLITE_PATH = {path!r}: {directory!r} {problem}")
    if os.path.isdir(absolute):
        raise ConfigurationError(f"DQUEUE_SQLITE_PATH = {path!r} is a directory, not a file")
    return absolute


def cannot_open(exc: BaseException | None) -> bool:
    """Whether ``exc`` says the file can't be opened for writing at all (not a passing fault)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        return False
    return code & 0xFF in (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM)


def is_busy(exc: sqlite3.Error) -> bool:
    """Whether ``exc`` says another connection holds the lock (``SQLITE_BUSY``)."""
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None:
        return bool(code & 0xFF == sqlite3.SQLITE_BUSY)
    return "locked" in str(exc)


def retry_while_busy(action: Callable[[], _T], timeout_s: float) -> _T:
    """Run ``action`` until it finds the database free, for up to ``timeout_s``.

    SQLite's own busy handler sleeps 1, 2, 5, 10, 15, 20, 25 ms and more between tries, so a
    process waiting for the write lock loses it again and again to a busy neighbour and its
    jobs start tens of milliseconds late. Short, jittered sleeps (0.1 to 2 ms) keep waiters
    close to first-come first-served.

    Raises:
        sqlite3.OperationalError: still busy after ``timeout_s``, or any other error.
    """
    give_up = time.monotonic() + timeout_s
    delay = 0.0001
    while True:
        try:
            return action()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc) or time.monotonic() >= give_up:
                raise
        time.sleep(delay * (0.5 + random.random()))
        delay = min(delay * 2, 0.002)


def _connect(path: str, busy_timeout_s: float) -> sqlite3.Connection:
    # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE for every write), so
    # the module never opens a deferred transaction that would have to upgrade its lock.
    # timeout=0: waiting for a lock is done by retry_while_busy, not by SQLite's busy handler.
    conn = sqlite3.connect(
        path,
        timeout=0,
        isolation_level=None,
        check_same_thread=False,  # close() may run on another thread; use stays per thread
        cached_statements=256,
    )
    try:
        # NORMAL in WAL mode: a commit survives the process crashing (the WAL is written
        # before COMMIT returns) but not a power cut or OS crash before the next checkpoint;
        # that is the price of not calling fsync on every commit.
        # Another process may hold the file exclusively for a moment (creating it, switching
        # it to WAL, recovering a WAL after a crash).
        retry_while_busy(lambda: _configure(conn), busy_timeout_s)
    except sqlite3.Error:
        conn.close()
        raise
    return conn


def _configure(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA synchronous = NORMAL")
    conn.execute("PRAGMA temp_store = MEMORY")
    conn.execute("PRAGMA cache_size = -16000")


def _use_wal(conn: sqlite3.Connection, path: str, busy_timeout_s: float) -> None:
    # Switching a fresh file to WAL takes an exclusive lock: other processes may be opening
    # the file at the same moment.
    mode = retry_while_busy(
        lambda: conn.execute("PRAGMA journal_mode = WAL").fetchone()[0], busy_timeout_s
    )
    if str(mode).lower() != "wal":
        _logger.warning(
            "SQLite database %s could not use WAL mode (journal_mode=%s): concurrent workers "
            "will block each other",
            path,
            mode,
        )


def _header(conn: sqlite3.Connection) -> tuple[int, int]:
    application_id = conn.execute("PRAGMA application_id").fetchone()[0]
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    return int(application_id), int(version)


def _foreign(path: str, detail: str) -> ConfigurationError:
    return ConfigurationError(f"DQUEUE_SQLITE_PATH = {path!r} is not a dqueue database: {detail}")


def prepare_database(conn: sqlite3.Connection, path: str, busy_timeout_s: float) -> None:
    """Check that ``path`` is a dqueue database of a version this code reads; create it if new.

    Raises:
        ConfigurationError: the file is not SQLite, is another application's database, or was
            written by a newer dqueue.
    """
    try:
        application_id, version = retry_while_busy(lambda: _header(conn), busy_timeout_s)
    except sqlite3.OperationalError:
        raise
    except sqlite3.DatabaseError as exc:
        raise _foreign(path, str(exc)) from exc
    if application_id not in (0, APPLICATION_ID):
        raise _foreign(path, f"its application_id is {application_id:#x}")
    _use_wal(conn, path, busy_timeout_s)
    if application_id == APPLICATION_ID and version == SCHEMA_VERSION:
        return
    retry_while_busy(lambda: conn.execute("BEGIN IMMEDIATE"), busy_timeout_s)
    try:
        application_id, version = _header(conn)  # another process may have created it
        if application_id == 0:
            tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master")]
            if tables:
                raise _foreign(path, f"it holds other tables ({', '.join(sorted(tables)[:5])})")
            for statement in _SCHEMA:
                conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version > SCHEMA_VERSION:
            raise ConfigurationError(
                f"DQUEUE_SQLITE_PATH = {path!r} has dqueue schema version {version}, newer than "
                f"this dqueue reads ({SCHEMA_VERSION}): upgrade dqueue-core"
            )
        elif version in _MIGRATIONS:
            for older in range(version, SCHEMA_VERSION):
                for statement in _MIGRATIONS[older]:
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        elif version < SCHEMA_VERSION:
            raise ConfigurationError(
                f"DQUEUE_SQLITE_PATH = {path!r} has an unknown dqueue schema version {version}"
            )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class _Slot:
    """One thread's connection, remembered with the process and pool generation it belongs to."""

    __slots__ = ("__weakref__", "conn", "generation", "pid")

    def __init__(self, conn: sqlite3.Connection, pid: int, generation: int) -> None:
        self.conn = conn
        self.pid = pid
        self.generation = generation

    def __del__(self) -> None:
        # A thread ended (its thread-local went away): close its connection, unless this
        # process is a forked child holding its parent's connection. At interpreter exit the
        # modules used here may already be gone; the OS closes the file then anyway.
        with contextlib.suppress(Exception):
            if self.pid == os.getpid():
                self.conn.close()
            else:
                _inherited.append(self.conn)


class ConnectionPool:
    """One connection per thread and per process to one database file."""

    def __init__(self, path: str, *, busy_timeout_s: float) -> None:
        self.path = path
        self.busy_timeout_s = busy_timeout_s
        self._local = threading.local()
        self._slots: weakref.WeakSet[_Slot] = weakref.WeakSet()
        self._lock = threading.Lock()
        self._generation = 0
        self._pid = os.getpid()
        self._prepared_in: int | None = None

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened (and the file checked) on first use."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        pid = os.getpid()
        if slot is not None and slot.pid == pid and slot.generation == self._generation:
            return slot.conn
        if pid != self._pid:
            # A forked child: the parent's lock may have been held at fork time.
            self._lock = threading.Lock()
            self._slots = weakref.WeakSet()
            self._pid = pid
        try:
            conn = _connect(self.path, self.busy_timeout_s)
        except sqlite3.OperationalError:
            raise
        except sqlite3.DatabaseError as exc:  # the header is not SQLite's
            raise _foreign(self.path, str(exc)) from exc
        try:
            if self._prepared_in != pid:
                prepare_database(conn, self.path, self.busy_timeout_s)
                self._prepared_in = pid
        except BaseException:
            conn.close()
            raise
        slot = _Slot(conn, pid, self._generation)
        self._local.slot = slot
        with self._lock:
            self._slots.add(slot)
        return conn

    def discard(self) -> None:
        """Close this thread's connection (after an I/O error); the next call reopens."""
        slot: _Slot | None = getattr(self._local, "slot", None)
        self._local.slot = None
        if slot is not None and slot.pid == os.getpid():
            try:
                slot.conn.close()
            except sqlite3.Error:
                _logger.debug("closing a failed SQLite connection failed", exc_info=True)

    def close_all(self) -> None:
        """Close every connection this process opened; later calls open new ones."""
        pid = os.getpid()
        with self._lock:
            self._generation += 1
            slots = list(self._slots)
            self._slots = weakref.WeakSet()
        for slot in slots:
            if slot.pid == pid:
                try:
                    slot.conn.close()
                except sqlite3.Error:
                    _logger.debug("closing a SQLite connection failed", exc_info=True)
