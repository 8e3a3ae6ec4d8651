"""``dqueue.backends.reliable_redis.ReliableRedisBackend``: the at-least-once Redis backend.

It lives in the dqueue-redis distribution (``pip install dqueue-redis``); this module keeps
the seed's dotted path working and says what to install when it is missing.
"""

from __future__ import annotations

from typing import Any

from ..loading import import_string

__all__ = ["ReliableRedisBackend"]  # noqa: F822 - provided by __getattr__


def __getattr__(name: str) -> Any:
    if name == "ReliableRedisBackend":
        return import_string("dqueue_redis.ReliableRedisBackend", setting="DQUEUE_BACKEND")
    raise AttributeError(name)
