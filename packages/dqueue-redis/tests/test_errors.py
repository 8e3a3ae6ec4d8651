"""A server that goes away: dqueue errors only, and service again once it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from dqueue.errors import BackendError, BackendUnavailable
from dqueue.job import Job
from dqueue.settings import Settings
from dqueue_redis import RedisBackend, ReliableRedisBackend
from tests.support.redis_server import RedisServer


@pytest.fixture
def private_server(redis_kind: str) -> Iterator[RedisServer]:
    with RedisServer(redis_kind, appendonly=True) as server:
        yield server


def _job(**fields: Any) -> Job:
    job_id = f"job-{time.time_ns()}"
    return Job(id=job_id, task="tests.redis.work", enqueued_at=time.time(), **fields)


@pytest.mark.parametrize("cls", [RedisBackend, ReliableRedisBackend])
def test_every_verb_raises_backend_unavailable_while_the_server_is_down(
    private_server: RedisServer, cls: type[RedisBackend]
) -> None:
    backend = cls.from_settings(
        Settings().replace(REDIS_URL=private_server.url, REDIS_PREFIX="down")
    )
    backend.enqueue(_job())
    private_server.kill()

    verbs = [
        lambda: backend.enqueue(_job()),
        lambda: backend.reserve("default", worker_id="w", timeout_s=0),
        lambda: backend.reserve("default", worker_id="w", timeout_s=0.2),
        lambda: backend.counts("default"),
        lambda: backend.recover(),
        lambda: backend.ping(),
    ]
    try:
        for verb in verbs:
            with pytest.raises(BackendUnavailable, match="unreachable"):
                verb()
    finally:
        backend.close()


def test_the_backend_works_again_once_the_server_is_back_with_its_data(
    private_server: RedisServer,
) -> None:
    settings = Settings().replace(REDIS_URL=private_server.url, REDIS_PREFIX="back")
    backend = ReliableRedisBackend.from_settings(settings)
    job = _job()
    backend.enqueue(job)

    private_server.restart()

    try:
        taken = backend.reserve("default", worker_id="w", timeout_s=0)
        assert [reserved.id for reserved in taken] == [job.id]
    finally:
        backend.close()


def test_a_refused_command_is_a_backend_error_never_a_redis_exception(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    settings = Settings().replace(REDIS_URL=redis_server.url, REDIS_PREFIX=redis_prefix)
    backend = RedisBackend.from_settings(settings)
    client = redis.Redis.from_url(redis_server.url)
    client.set(f"{redis_prefix}:{{default}}:jobs", "not a hash")
    try:
        with pytest.raises(BackendError) as raised:
            backend.enqueue(_job())
        assert not isinstance(raised.value, redis.RedisError)
        assert isinstance(raised.value.__cause__, redis.RedisError)
    finally:
        client.close()
        backend.close()
