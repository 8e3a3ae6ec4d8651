"""The worker registry of the SQLite store: one row per worker in the ``workers`` table.

:class:`~dqueue.backends.sqlite.SQLiteBackend` inherits :class:`SQLiteWorkers`. A beat replaces
its worker's row and stamps it with the store's clock; rows whose ttl passed are not listed, and
each beat deletes them (a few rows: one per worker that ever beat and did not say goodbye).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, Final

from .sqlite_store import SQLiteStore
from .workers import WorkerBeat, ordered

__all__ = ["SQLiteWorkers"]

_FIELDS: Final = (
    "worker_id",
    "name",
    "queue",
    "host",
    "pid",
    "started_at",
    "beat_at",
    "job_id",
    "job_task",
    "job_started_at",
    "processed",
    "failed",
)
_COLUMNS: Final = ", ".join(_FIELDS)
_BEAT: Final = (
    f"INSERT OR REPLACE INTO workers ({_COLUMNS}, alive_until)"
    f" VALUES ({', '.join(':' + name for name in _FIELDS)}, :alive_until)"
)
_EXPIRE: Final = "DELETE FROM workers WHERE alive_until <= ?"
_LIVING: Final = f"SELECT {_COLUMNS} FROM workers WHERE alive_until > ?"


def _beat_of(row: tuple[Any, ...]) -> WorkerBeat:
    return WorkerBeat(**dict(zip(_FIELDS, row, strict=True)))


class SQLiteWorkers(SQLiteStore):
    """:class:`~dqueue.backends.workers.WorkerRegistry` of the SQLite store."""

    def beat(self, beat: WorkerBeat, *, ttl_s: float) -> None:
        """Record ``beat``, stamped with the store's time, alive for ``ttl_s`` seconds."""
        with self._write() as conn:
            now = self.clock.time()
            conn.execute(_EXPIRE, (now,))
            row = {name: getattr(beat, name) for name in _FIELDS}
            conn.execute(_BEAT, {**row, "beat_at": now, "alive_until": now + ttl_s})

    def forget(self, worker_id: str) -> None:
        """Drop ``worker_id`` now."""
        with self._write() as conn:
            conn.execute("DELETE FROM workers WHERE worker_id = ?", (worker_id,))

    def workers(self, queues: Sequence[str] | None = None) -> list[WorkerBeat]:
        """The living workers of ``queues`` (``None``: all), in ``ordered`` order."""
        if queues is not None and not queues:
            return []
        now = self.clock.time()
        chosen = [] if queues is None else sorted(set(queues))

        def living(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if not chosen:
                return conn.execute(_LIVING, (now,)).fetchall()
            marks = ", ".join("?" * len(chosen))
            query = f"{_LIVING} AND queue IN ({marks})"
            return conn.execute(query, (now, *chosen)).fetchall()

        return ordered(_beat_of(row) for row in self._read(living))
