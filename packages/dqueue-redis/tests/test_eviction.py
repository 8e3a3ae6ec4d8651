"""A server that may evict keys loses jobs without a trace: workers refuse it, status warns."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dqueue import ops
from dqueue.backends import close_backends
from dqueue.errors import ConfigurationError
from dqueue.pool import WorkerSlot
from dqueue.runner import Runner, check_backends
from dqueue.settings import Settings
from dqueue.status import render_status
from dqueue.worker import Worker
from dqueue_redis import ReliableRedisBackend
from tests.support.redis_server import RedisServer

EVICTING = ("--maxmemory", "10mb", "--maxmemory-policy", "allkeys-lru")
NO_CONFIG = ("--rename-command", "CONFIG", "")
NO_INFO = ("--rename-command", "INFO", "")

StartServer = Callable[..., RedisServer]


@pytest.fixture(autouse=True)
def _fresh_backends() -> Iterator[None]:
    """``ops`` and the runner build backends through the per-process cache: start empty."""
    close_backends()
    yield
    close_backends()


@pytest.fixture
def start_server(redis_kind: str) -> Iterator[StartServer]:
    """``start_server(*extra_args)``: a private server of this kind, stopped after the test."""
    started: list[RedisServer] = []

    def start(*extra_args: str) -> RedisServer:
        server = RedisServer(redis_kind, extra_args=extra_args).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()


def _settings(server: RedisServer, redis_prefix: str, **overrides: Any) -> Settings:
    return Settings().replace(
        BACKEND="dqueue.backends.reliable_redis.ReliableRedisBackend",
        REDIS_URL=server.url,
        REDIS_PREFIX=redis_prefix,
        **overrides,
    )


def _worker(settings: Settings) -> Worker:
    backend = ReliableRedisBackend.from_settings(settings)
    return Worker(settings, "default", backend=backend, burst=True)


def test_a_worker_refuses_to_start_on_a_server_that_may_evict_jobs(
    start_server: StartServer, redis_prefix: str
) -> None:
    settings = _settings(start_server(*EVICTING), redis_prefix)

    with pytest.raises(ConfigurationError) as refused:
        _worker(settings).run()

    message = str(refused.value)
    assert "\n" not in message
    assert "maxmemory-policy allkeys-lru" in message
    assert "CONFIG SET maxmemory-policy noeviction" in message
    assert "DQUEUE_REDIS_ALLOW_EVICTION=true" in message


def test_a_runner_refuses_to_start_on_a_server_that_may_evict_jobs(
    start_server: StartServer, redis_prefix: str
) -> None:
    settings = _settings(start_server(*EVICTING), redis_prefix)

    with pytest.raises(ConfigurationError, match="allkeys-lru"):
        check_backends(settings, ["default"])


def test_allowing_eviction_starts_the_worker_with_a_warning(
    start_server: StartServer, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(start_server(*EVICTING), redis_prefix, REDIS_ALLOW_EVICTION=True)

    with caplog.at_level(logging.WARNING, logger="dqueue"):
        assert _worker(settings).run() == 0

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("allkeys-lru" in w and "DQUEUE_REDIS_ALLOW_EVICTION" in w for w in warnings)


@pytest.mark.parametrize("allowed", [False, True], ids=["refused", "allowed"])
def test_status_shows_a_standing_warning_either_way(
    start_server: StartServer, redis_prefix: str, allowed: bool
) -> None:
    settings = _settings(start_server(*EVICTING), redis_prefix, REDIS_ALLOW_EVICTION=allowed)

    [row] = ops.queue_status(settings, ["default"])

    [warning] = row.warnings
    assert "maxmemory-policy allkeys-lru" in warning
    assert row.to_dict()["warnings"] == [warning]
    assert f"WARNING: {warning}" in render_status([row]).splitlines()


def test_a_noeviction_server_starts_clean(
    redis_server: RedisServer, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(redis_server, redis_prefix)

    with caplog.at_level(logging.WARNING, logger="dqueue"):
        assert _worker(settings).run() == 0

    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert ops.queue_status(settings, ["default"])[0].warnings == ()
    check_backends(settings, ["default"])


def test_the_policy_is_read_from_info_when_config_is_disabled(
    start_server: StartServer, redis_prefix: str
) -> None:
    settings = _settings(start_server(*EVICTING, *NO_CONFIG), redis_prefix)

    with pytest.raises(ConfigurationError, match="allkeys-lru"):
        _worker(settings).run()


def test_a_policy_nobody_can_read_is_a_warning_not_a_crash(
    start_server: StartServer, redis_prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(start_server(*EVICTING, *NO_CONFIG, *NO_INFO), redis_prefix)

    with caplog.at_level(logging.WARNING, logger="dqueue"):
        assert _worker(settings).run() == 0

    assert any("could not read the maxmemory-policy" in r.getMessage() for r in caplog.records)
    [row] = ops.queue_status(settings, ["default"])
    assert "could not read the maxmemory-policy" in row.warnings[0]


def test_healthz_carries_the_warning(start_server: StartServer, redis_prefix: str) -> None:
    pytest.importorskip("prometheus_client")
    from dqueue.runner_metrics import RunnerMetrics

    settings = _settings(start_server(*EVICTING), redis_prefix, REDIS_ALLOW_EVICTION=True)
    idle = [sys.executable, "-c", "import time; time.sleep(60)"]
    slots = [WorkerSlot("default", 1)]
    runner = Runner(settings, slots, worker_command=lambda _: idle, check=False)

    body = json.loads(RunnerMetrics(runner, cache_s=0.0).health().body)

    [warning] = body["warnings"]
    assert "maxmemory-policy allkeys-lru" in warning
    assert body["store"] == "up"
