"""Fixtures of dqueue-redis's unit tests: a real server per kind, a fresh prefix per test."""

from __future__ import annotations

import itertools
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from dqueue.clock import SYSTEM_CLOCK, Clock, ManualClock
from dqueue.job import Job
from dqueue.settings import Settings
from dqueue.testing import wait_for
from dqueue_redis import RedisBackend, ReliableRedisBackend
from dqueue_redis.backends import _RedisBackendBase

# The shared test support lives in the repository's root ``tests`` package; pytest's importlib
# mode doesn't put the root on sys.path when only this package's tests are collected.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from tests.support import redis_server as support  # noqa: E402
from tests.support.redis_server import RedisServer  # noqa: E402

# The shared fixtures: every available server kind, its session-wide server, a prefix per test.
redis_kind = support.redis_kind
redis_server = support.redis_server
redis_prefix = support.redis_prefix

MakeBackend = Callable[..., _RedisBackendBase]
MakeJob = Callable[..., Job]
_numbers = itertools.count(1)


@pytest.fixture(params=["at-most-once", "at-least-once"])
def backend_class(request: pytest.FixtureRequest) -> type[_RedisBackendBase]:
    """Each of the two backends."""
    return ReliableRedisBackend if request.param == "at-least-once" else RedisBackend


def settings_for(server: RedisServer, prefix: str, **overrides: Any) -> Settings:
    """Settings that point at ``server`` with key prefix ``prefix``."""
    values: dict[str, Any] = {"REDIS_URL": server.url, "REDIS_PREFIX": prefix}
    values.update(overrides)
    return Settings().replace(**values)


@pytest.fixture
def make_backend(
    redis_server: RedisServer, redis_prefix: str, backend_class: type[_RedisBackendBase]
) -> Iterator[MakeBackend]:
    """Build backends of the parametrized class on the shared server (one prefix per test)."""
    built: list[_RedisBackendBase] = []

    def make(
        *, clock: Clock = SYSTEM_CLOCK, cls: type[_RedisBackendBase] | None = None, **overrides: Any
    ) -> _RedisBackendBase:
        settings = settings_for(redis_server, redis_prefix, **overrides)
        backend = (cls or backend_class).from_settings(settings, clock=clock)
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def backend(make_backend: MakeBackend) -> _RedisBackendBase:
    """A backend of the parametrized class on the real clock."""
    return make_backend()


@pytest.fixture
def raw(redis_server: RedisServer) -> Iterator[redis.Redis]:
    """A plain client of the shared server, to look at keys directly."""
    client = redis.Redis.from_url(redis_server.url)
    yield client
    client.close()


@pytest.fixture
def wait_until_blocked(raw: redis.Redis) -> Callable[[int], None]:
    """``wait_until_blocked(n)`` returns once ``n`` more clients than when the test began wait
    in a blocking command on the server: a reserve that waits for a job is one. It replaces a
    sleep meant to "let the reserve start waiting"."""

    def blocked() -> int:
        return int(raw.info("clients")["blocked_clients"])

    already = blocked()

    def wait(count: int) -> None:
        wait_for(lambda: blocked() >= already + count, what=f"{count} blocked reserve(s)")

    return wait


@pytest.fixture
def make_job() -> MakeJob:
    """Jobs enqueued now (real clock unless given), ids sorting in creation order."""
    import time

    def make(**fields: Any) -> Job:
        values: dict[str, Any] = {
            "id": f"job-{next(_numbers):08d}",
            "task": "tests.redis.work",
            "queue": "default",
            "enqueued_at": time.time(),
        }
        values.update(fields)
        return Job(**values)

    return make
