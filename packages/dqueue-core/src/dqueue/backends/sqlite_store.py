"""The plumbing of the SQLite store: its options, connections, transactions and errors.

:class:`~dqueue.backends.sqlite.SQLiteBackend` builds its verbs on :class:`SQLiteStore`. How
it stays correct with many processes is told in :mod:`dqueue.backends.sqlite`.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Final, Self, TypeVar

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import BackendError, BackendUnavailable, ConfigurationError
from ..settings import Settings
from .base import Backend, StoreOptions
from .sqlite_schema import ConnectionPool, cannot_open, resolve_path, retry_while_busy
from .sqlite_wakeup import Wakeup, wakeup_for

__all__ = ["SQLiteOptions", "SQLiteStore"]

_T = TypeVar("_T")
_HAS_RETURNING: Final = sqlite3.sqlite_version_info >= (3, 35, 0)


@dataclass(frozen=True, slots=True, kw_only=True)
class SQLiteOptions(StoreOptions):
    """The options of a SQLite store: the shared ones and the database file."""

    #: The database file (``DQUEUE_SQLITE_PATH``), relative to the working directory.
    path: str = "dqueue.sqlite3"


class SQLiteStore(Backend):
    """A SQLite file opened by this process: one connection per thread, errors as dqueue's."""

    #: Seconds an operation waits for another process's write lock before the backend reports
    #: :class:`~dqueue.errors.BackendUnavailable`.
    busy_timeout_s: ClassVar[float] = 30.0

    def __init__(
        self, options: SQLiteOptions | None = None, *, clock: Clock = SYSTEM_CLOCK
    ) -> None:
        options = options if options is not None else SQLiteOptions()
        super().__init__(options, clock=clock)
        self.options: SQLiteOptions = options
        self.path = resolve_path(options.path)
        self._pool = ConnectionPool(self.path, busy_timeout_s=self.busy_timeout_s)
        self._use_returning = _HAS_RETURNING
        self._known_queues: set[str] = set()
        self._rows_since_trim: dict[str, int] = {}
        try:
            with self._errors():
                self._pool.get()  # refuse a bad file now, not at the first job
        except BackendUnavailable as exc:
            if not cannot_open(exc.__cause__):
                raise
            # Retrying would not help: the setting names a file this process can't write.
            raise ConfigurationError(
                f"DQUEUE_SQLITE_PATH = {options.path!r} cannot be opened for reading "
                f"and writing: {exc.__cause__}"
            ) from exc

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Self:
        """The backend of ``DQUEUE_SQLITE_PATH``, with the lease and poll of ``settings``."""
        return cls(SQLiteOptions.from_settings(settings, path=settings.SQLITE_PATH), clock=clock)

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Report ``sqlite3`` errors as dqueue's: a lock or disk error is "unavailable"."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            self._pool.discard()  # start the next call on a fresh connection
            raise BackendUnavailable(f"SQLite database {self.path} is unavailable: {exc}") from exc
        except sqlite3.Error as exc:
            raise BackendError(f"SQLite database {self.path} failed: {exc}") from exc

    def _read(self, read: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``read`` on this thread's connection, outside any write transaction."""
        with self._errors():
            conn = self._pool.get()
            return retry_while_busy(lambda: read(conn), self.busy_timeout_s)

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One ``BEGIN IMMEDIATE`` transaction: committed on success, rolled back on error."""
        with self._errors():
            conn = self._pool.get()
            retry_while_busy(lambda: conn.execute("BEGIN IMMEDIATE"), self.busy_timeout_s)
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                raise
            retry_while_busy(lambda: conn.execute("COMMIT"), self.busy_timeout_s)

    @property
    def _wakeup(self) -> Wakeup:
        return wakeup_for(self.path)

    def _register_queues(self, conn: sqlite3.Connection, names: set[str]) -> None:
        new = names - self._known_queues
        if new:
            conn.executemany("INSERT OR IGNORE INTO queues (name) VALUES (?)", [(n,) for n in new])
            self._known_queues |= new

    def ping(self) -> None:
        """Raise :class:`~dqueue.errors.BackendUnavailable` when the file can't be read."""
        self._read(lambda conn: conn.execute("SELECT count(*) FROM queues").fetchone())

    def close(self) -> None:
        """Close every connection this process opened to the file, and its wake-up pipe."""
        self._pool.close_all()
        self._wakeup.close()
