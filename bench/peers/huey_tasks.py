"""Huey's no-op task, on Redis (``RedisHuey``) or SQLite (``SqliteHuey``) as the run asks.

``huey_consumer peers.huey_tasks.huey`` runs it. ``BENCH_HUEY_STORAGE`` picks the storage:
``redis`` (``RedisHuey``, defaults), ``sqlite`` (``SqliteHuey``, defaults: WAL and SQLite's
default ``synchronous=FULL``, an fsync per commit) or ``sqlite-normal`` (the same storage with
``synchronous=NORMAL``, the durability dqueue's SQLite backend chooses).
"""

from __future__ import annotations

import os
import sqlite3

from huey import Huey, RedisHuey, SqliteHuey
from huey.storage import SqliteStorage

from peers import probe


class NormalSyncSqliteStorage(SqliteStorage):
    """Huey's SQLite storage, unchanged but for ``PRAGMA synchronous = NORMAL``."""

    def _create_connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection = super()._create_connection()
        connection.execute("pragma synchronous=1")
        return connection


def _make_huey() -> Huey:
    storage = os.environ.get("BENCH_HUEY_STORAGE", "redis")
    if storage == "sqlite":
        return SqliteHuey("bench", filename=os.environ["BENCH_SQLITE_PATH"])
    if storage == "sqlite-normal":
        return Huey(
            "bench",
            storage_class=NormalSyncSqliteStorage,
            filename=os.environ["BENCH_SQLITE_PATH"],
        )
    return RedisHuey("bench", url=os.environ["BENCH_REDIS_URL"])


huey = _make_huey()


@huey.task()
def noop(due: float | None = None) -> None:
    probe.record(due)
