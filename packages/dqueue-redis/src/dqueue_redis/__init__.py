"""Redis and Valkey backends for dqueue.

``dqueue_redis.RedisBackend`` delivers at most once; ``dqueue_redis.ReliableRedisBackend``
delivers at least once. Both are also reachable by the seed's dotted paths
``dqueue.backends.redis.RedisBackend`` and ``dqueue.backends.reliable_redis.ReliableRedisBackend``
and by the short names ``redis`` and ``reliable_redis`` (entry points of ``dqueue.backends``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .backends import RedisBackend, ReliableRedisBackend

__all__ = ["RedisBackend", "ReliableRedisBackend", "__version__"]


def __getattr__(name: str) -> Any:
    # Every dqueue process reads this package's settings section; only one that uses a Redis
    # backend should pay for importing redis.
    if name in ("RedisBackend", "ReliableRedisBackend"):
        from . import backends

        return getattr(backends, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
