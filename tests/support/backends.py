"""Factories of every backend under test, for the contract suite.

Each factory takes ``(settings, clock, tmp_path)`` and returns a fresh, empty backend that no
other test shares. A backend package adds its factories to ``BACKEND_FACTORIES`` here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from dqueue.backends.base import Backend
from dqueue.backends.memory import MemoryBackend
from dqueue.backends.sqlite import SQLiteBackend
from dqueue.clock import Clock
from dqueue.settings import Settings

BackendFactory = Callable[[Settings, Clock, Path], Backend]


def memory_backend(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
    return MemoryBackend(settings, clock=clock)


def sqlite_backend(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
    path = str(tmp_path / "dqueue.sqlite3")
    return SQLiteBackend(dataclasses.replace(settings, SQLITE_PATH=path), clock=clock)


BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
}


def _redis_factory(kind: str, reliable: bool) -> BackendFactory:
    """A factory of Redis backends on the shared ``kind`` server, each with its own prefix."""

    def redis_backend(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
        from dqueue_redis import RedisBackend, ReliableRedisBackend
        from tests.support.redis_server import shared_server, unique_prefix

        server = shared_server(kind)
        prefix = unique_prefix()
        effective = settings.replace(REDIS_URL=server.url, REDIS_PREFIX=prefix)
        backend_class = ReliableRedisBackend if reliable else RedisBackend
        return backend_class(effective, clock=clock)

    return redis_backend


def _add_redis_factories() -> None:
    """Redis backends join when dqueue-redis is installed and a server can be started: on
    Valkey as "redis" and "reliable_redis", and on redis-server too as "*-redis" if both are."""
    import importlib.util

    if importlib.util.find_spec("dqueue_redis") is None:
        return
    from tests.support.redis_server import available_kinds

    for index, kind in enumerate(available_kinds()):
        suffix = "" if index == 0 else f"-{kind}"
        BACKEND_FACTORIES[f"redis{suffix}"] = _redis_factory(kind, reliable=False)
        BACKEND_FACTORIES[f"reliable_redis{suffix}"] = _redis_factory(kind, reliable=True)


_add_redis_factories()
