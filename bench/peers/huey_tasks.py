"""Huey's no-op task, on Redis (``RedisHuey``) or SQLite (``SqliteHuey``) as the run asks.

``huey_consumer peers.huey_tasks.huey`` runs it. Storage settings are Huey's defaults.
"""

from __future__ import annotations

import os

from huey import Huey, RedisHuey, SqliteHuey

from peers import probe


def _make_huey() -> Huey:
    if os.environ.get("BENCH_HUEY_STORAGE", "redis") == "sqlite":
        return SqliteHuey("bench", filename=os.environ["BENCH_SQLITE_PATH"])
    return RedisHuey("bench", url=os.environ["BENCH_REDIS_URL"])


huey = _make_huey()


@huey.task()
def noop(due: float | None = None) -> None:
    probe.record(due)
