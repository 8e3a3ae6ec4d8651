"""Redis and Valkey backends for dqueue.

``dqueue_redis.RedisBackend`` delivers at most once; ``dqueue_redis.ReliableRedisBackend``
delivers at least once. Both are also reachable by the seed's dotted paths
``dqueue.backends.redis.RedisBackend`` and ``dqueue.backends.reliable_redis.ReliableRedisBackend``.
"""

from __future__ import annotations

from ._version import __version__
from .backends import RedisBackend, ReliableRedisBackend

__all__ = ["RedisBackend", "ReliableRedisBackend", "__version__"]
