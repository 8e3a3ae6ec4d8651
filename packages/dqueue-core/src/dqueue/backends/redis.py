"""``dqueue.backends.redis.RedisBackend``: the at-most-once Redis backend.

It lives in the dqueue-redis distribution (``pip install dqueue-redis``); this module keeps
the seed's dotted path working and says what to install when it is missing. dqueue-core itself
never imports redis.
"""

from __future__ import annotations

from typing import Any

from ..loading import import_string

__all__ = ["RedisBackend"]  # noqa: F822 - provided by __getattr__


def __getattr__(name: str) -> Any:
    if name == "RedisBackend":
        return import_string("dqueue_redis.RedisBackend", setting="DQUEUE_BACKEND")
    raise AttributeError(name)
