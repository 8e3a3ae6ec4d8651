"""Connecting to Redis or Valkey from dqueue settings, and turning client errors into dqueue's.

``DQUEUE_REDIS_URL`` (``redis://``, ``rediss://`` for TLS, ``unix://``; user, password and
database in the URL; ``redis+sentinel://`` through Redis Sentinel, see :mod:`.sentinel`;
``redis+cluster://`` to Redis Cluster, see :mod:`.cluster`) wins; without it the legacy
``DQUEUE_REDIS_HOST``, ``_PORT``, ``_PASSWORD`` and ``_DATABASE`` settings are used. Each
backend instance owns one connection pool (one per node of a cluster); redis-py's pool notices
a fork and opens fresh connections in the child.
"""

from __future__ import annotations

import contextlib
from typing import Any
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.exceptions import (
    ClusterDownError,
    MasterDownError,
    RedisClusterException,
    TryAgainError,
)
from redis.retry import Retry

from dqueue.errors import BackendError, BackendUnavailable, ConfigurationError
from dqueue.settings import Settings

from . import cluster, sentinel
from .scripts import HeldConnections, ScriptRunner
from .settings import RedisSettings

__all__ = [
    "CLIENT_ERRORS",
    "Client",
    "connect",
    "describe_target",
    "disconnect",
    "eviction_policy",
    "script_runner",
    "translate_error",
]

#: A client of one server (or the master Sentinel names), or of a cluster.
Client = redis.Redis | RedisCluster
#: What a client raises: redis-py's cluster client has errors outside ``RedisError``.
CLIENT_ERRORS = (redis.RedisError, RedisClusterException)
#: Errors that mean "not now": the cluster is failing over or moving a slot.
_UNAVAILABLE = (
    redis.ConnectionError,
    redis.TimeoutError,
    ClusterDownError,
    TryAgainError,
    MasterDownError,
    RedisClusterException,
)

#: Connecting must fail fast even when commands may block for longer.
_CONNECT_TIMEOUT_S = 5.0


def describe_target(settings: Settings) -> str:
    """Where the backend connects, for messages: never the password."""
    server = settings.section(RedisSettings)
    if server.REDIS_URL and server.REDIS_URL.startswith(sentinel.SCHEMES):
        return sentinel.parse_sentinel_url(server.REDIS_URL).describe()
    if server.REDIS_URL and server.REDIS_URL.startswith(cluster.SCHEMES):
        return cluster.parse_cluster_url(server.REDIS_URL).describe()
    if server.REDIS_URL:
        parts = urlsplit(server.REDIS_URL)
        if parts.scheme == "unix":
            return f"unix://{parts.path}"
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        user = f"{parts.username}@" if parts.username else ""
        return f"{parts.scheme}://{user}{host}{port}{parts.path or ''}"
    return f"redis://{server.REDIS_HOST}:{server.REDIS_PORT}/{server.REDIS_DATABASE}"


def connect(settings: Settings) -> Client:
    """A client with its own connection pool, as the settings say.

    The client does not retry by itself: a command that failed may have run, and only the
    backend knows which of its commands are safe to send twice.

    Raises:
        ConfigurationError: ``DQUEUE_REDIS_URL`` is malformed or has an unknown scheme.
        BackendUnavailable: no node of a Redis Cluster answered (a cluster client reads the
            cluster's layout at once; other clients connect at their first command).
    """
    server = settings.section(RedisSettings)
    options: dict[str, Any] = {
        "socket_timeout": server.REDIS_SOCKET_TIMEOUT,
        "socket_connect_timeout": min(server.REDIS_SOCKET_TIMEOUT, _CONNECT_TIMEOUT_S),
        "socket_keepalive": True,
        "health_check_interval": 30,
        "retry": Retry(NoBackoff(), 0),
    }
    url = server.REDIS_URL
    if url and url.startswith(sentinel.SCHEMES):
        return sentinel.parse_sentinel_url(url).connect(options)
    if url and url.startswith(cluster.SCHEMES):
        return cluster.parse_cluster_url(url).connect(options)
    if url:
        try:  # redis-py refuses a scheme other than redis://, rediss:// and unix:// itself
            pool = redis.ConnectionPool.from_url(url, **options)
        except ValueError as exc:
            raise ConfigurationError(f"DQUEUE_REDIS_URL is not a valid Redis URL: {exc}") from exc
    else:
        pool = redis.ConnectionPool(
            host=server.REDIS_HOST,
            port=server.REDIS_PORT,
            password=server.REDIS_PASSWORD,
            db=server.REDIS_DATABASE,
            **options,
        )
    return redis.Redis(connection_pool=pool)


def script_runner(client: Client) -> ScriptRunner:
    """What runs the backend's scripts on ``client``.

    On a cluster, each script goes to the node of its slot; otherwise to a connection that each
    thread holds.
    """
    if isinstance(client, RedisCluster):
        return cluster.ClusterScripts(client)
    return HeldConnections(client)


def disconnect(client: Client) -> None:
    """Close every connection of ``client``; it connects again when used."""
    if isinstance(client, RedisCluster):
        client.disconnect_connection_pools()  # type: ignore[no-untyped-call]
    else:
        client.connection_pool.disconnect()


def eviction_policy(client: Client) -> str | None:
    """The server's ``maxmemory-policy``; ``None`` when neither CONFIG GET nor INFO says it.

    Managed servers often disable or rename CONFIG; INFO's memory section says it too. On a
    cluster, the first policy of a master that is not ``noeviction`` (``None`` unread).

    Raises:
        redis.RedisError: the server could not be reached (a refused command is ``None``).
    """
    if isinstance(client, RedisCluster):
        # Every master holds queues: the first that may evict says it for the cluster.
        cluster: Any = client  # redis-py leaves much of RedisCluster untyped
        nodes = [cluster.get_redis_connection(node) for node in cluster.get_primaries()]
        policies = [eviction_policy(node) for node in nodes]
        return next((p for p in policies if p != "noeviction"), "noeviction")
    policy: Any = None
    with contextlib.suppress(redis.ResponseError):
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
    if not policy:
        with contextlib.suppress(redis.ResponseError):
            policy = client.info("memory").get("maxmemory_policy")
    if isinstance(policy, bytes):
        policy = policy.decode()
    return str(policy) if policy else None


def translate_error(exc: redis.RedisError | RedisClusterException, target: str) -> BackendError:
    """The dqueue error for a client error: the store gone (or failing over), or refusing."""
    if isinstance(exc, _UNAVAILABLE):
        return BackendUnavailable(f"Redis at {target} is unreachable: {exc}")
    return BackendError(f"Redis at {target} refused a command: {exc}")
