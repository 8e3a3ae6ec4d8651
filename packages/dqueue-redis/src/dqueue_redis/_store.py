"""What both Redis backends share: the connection, key layout, scripts and error handling."""

from __future__ import annotations

import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, Self, TypeVar, cast

import redis

from dqueue.backends.base import Backend, StoreOptions
from dqueue.clock import SYSTEM_CLOCK, Clock
from dqueue.errors import BackendUnavailable
from dqueue.settings import Settings

from .connection import connect, describe_target, translate_error
from .keys import QueueKeys, queues_key
from .scripts import SOURCES, Arg, HeldConnections
from .settings import RedisSettings

__all__ = ["RedisOptions", "RedisStore"]

T = TypeVar("T")

_logger = logging.getLogger("dqueue.redis")
#: Replicas falling behind is said at most this often per backend instance.
_REPLICA_WARNING_INTERVAL_S = 60.0


@dataclass(frozen=True, slots=True, kw_only=True)
class RedisOptions(StoreOptions):
    """The options of a Redis store: the shared ones, its key prefix and socket timeout."""

    #: The start of every key (``DQUEUE_REDIS_PREFIX``).
    prefix: str = "dqueue"
    #: How long a call may wait for the server (``DQUEUE_REDIS_SOCKET_TIMEOUT``).
    socket_timeout_s: float = 30.0
    #: Replicas that must hold an enqueue or a settle before it returns, 0 for none
    #: (``DQUEUE_REDIS_WAIT_REPLICAS``).
    wait_replicas: int = 0
    #: How long to wait for them (``DQUEUE_REDIS_WAIT_TIMEOUT_MS``).
    wait_timeout_ms: int = 100


def options_from(settings: Settings) -> RedisOptions:
    """The Redis store's options in ``settings``: its :class:`RedisSettings` section and core's."""
    redis_settings = settings.section(RedisSettings)
    return RedisOptions.from_settings(
        settings,
        prefix=redis_settings.REDIS_PREFIX,
        socket_timeout_s=redis_settings.REDIS_SOCKET_TIMEOUT,
        wait_replicas=redis_settings.REDIS_WAIT_REPLICAS,
        wait_timeout_ms=redis_settings.REDIS_WAIT_TIMEOUT_MS,
    )


class RedisStore(Backend):
    """The plumbing under :class:`~dqueue_redis.RedisBackend` and its reliable sibling."""

    supports_priority: ClassVar[bool] = True
    supports_results: ClassVar[bool] = True
    supports_workers: ClassVar[bool] = True
    #: At-least-once: reserved jobs stay stored, leased, until settled.
    reliable: ClassVar[bool] = False

    def __init__(
        self,
        options: RedisOptions,
        *,
        client: redis.Redis,
        target: str = "redis",
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        super().__init__(options, clock=clock)
        self.options: RedisOptions = options
        self.target = target
        self.prefix = options.prefix
        self._client = client
        self._keys_of: dict[str, QueueKeys] = {}
        self._known_queues: set[str] = set()
        self._instance = secrets.token_hex(4)
        self._mode = "1" if self.reliable else "0"
        self._lua = {name: self._client.register_script(text) for name, text in SOURCES.items()}
        self._held = HeldConnections(self._client.connection_pool)
        self._wait = (options.wait_replicas, options.wait_timeout_ms)
        self._next_replica_warning = 0.0

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Self:
        """A backend on the server that the ``DQUEUE_REDIS_*`` settings name."""
        return cls(
            options_from(settings),
            client=connect(settings),
            target=describe_target(settings),
            clock=clock,
        )

    @property
    def client(self) -> redis.Redis:
        """The redis-py client (one connection pool per backend instance)."""
        return self._client

    def keys(self, queue: str) -> QueueKeys:
        """The keys of ``queue``."""
        keys = self._keys_of.get(queue)
        if keys is None:
            keys = self._keys_of[queue] = QueueKeys(self.prefix, queue)
        return keys

    def _waiter_id(self) -> str:
        """Names one waiting reserve call: this process (after a fork, too) and thread."""
        return f"{os.getpid()}:{threading.get_ident()}:{self._instance}"

    # -- calling Redis -----------------------------------------------------------------------

    def _call(self, operation: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run ``operation``, raising only dqueue errors.

        A connection error is retried once, on a fresh connection, when the operation is safe
        to apply twice: a pooled connection may have been cut by a server restart.
        """
        try:
            try:
                return operation()
            except redis.ConnectionError:
                if not idempotent:
                    raise
            return operation()
        except redis.RedisError as exc:
            raise translate_error(exc, self.target) from exc

    def _script(
        self,
        name: str,
        queue: str,
        args: Sequence[Arg],
        *,
        idempotent: bool = True,
        replicate: bool = False,
    ) -> Any:
        """Run script ``name`` on ``queue`` (its base key first, then ``args``).

        With ``replicate``, the call also waits for ``wait_replicas`` replicas (if any).
        """
        keys = self.keys(queue)
        script = self._lua[name]
        wait = self._wait if replicate and self._wait[0] else None
        reply, acknowledged = self._call(
            lambda: self._held.run_and_wait(script, [keys.jobs, keys.base, *args], wait),
            idempotent=idempotent,
        )
        if wait is not None:
            self._check_replicas(acknowledged, name)
        return reply

    def _scripts(
        self, calls: Sequence[tuple[str, str, Sequence[Arg]]], *, replicate: bool = False
    ) -> list[Any]:
        """Run scripts, each on its queue, in one round trip (a pipeline when several).

        redis-py loads the scripts a pipeline runs before it sends the pipeline.
        """
        if len(calls) == 1:
            return [self._script(*calls[0], replicate=replicate)]
        wait = replicate and self._wait[0] > 0

        def run() -> list[Any]:
            with self._client.pipeline(transaction=False) as pipeline:
                for name, queue, args in calls:
                    keys = self.keys(queue)
                    self._lua[name](keys=[keys.jobs], args=[keys.base, *args], client=pipeline)
                if wait:
                    pipeline.wait(*self._wait)
                return pipeline.execute()

        replies = self._call(run)
        if wait:
            self._check_replicas(int(replies.pop()), calls[0][0])
        return replies

    def _check_replicas(self, acknowledged: int, operation: str) -> None:
        """Warn (once a minute) when fewer replicas than asked hold a write; raise for an enqueue.

        An enqueue raises since its caller asked for jobs that survive a failover; a settle
        that is lost in one only makes its job run again.

        Raises:
            BackendUnavailable: an enqueue reached fewer replicas than ``wait_replicas``. The
                jobs are stored on the master; enqueueing them again with the same ids is safe.
        """
        wanted, timeout_ms = self._wait
        if acknowledged >= wanted:
            return
        message = (
            f"Redis at {self.target}: {operation} reached {acknowledged} of"
            f" DQUEUE_REDIS_WAIT_REPLICAS={wanted} replicas within {timeout_ms} ms"
        )
        now = time.monotonic()
        if now >= self._next_replica_warning:
            self._next_replica_warning = now + _REPLICA_WARNING_INTERVAL_S
            _logger.warning("%s; a failover before they catch up loses it", message)
        if operation == "enqueue":
            raise BackendUnavailable(f"{message}: stored on the master only")

    def _note_queues(self, queues: Sequence[str]) -> None:
        """Record queue names for :meth:`queues` (once per name and backend instance)."""
        new = [queue for queue in queues if queue not in self._known_queues]
        if new:
            self._call(lambda: self._client.sadd(queues_key(self.prefix), *new))
            self._known_queues.update(new)

    # -- lifecycle ---------------------------------------------------------------------------

    def ping(self) -> None:
        """Raise :class:`~dqueue.errors.BackendUnavailable` when Redis cannot be reached."""
        self._call(self._client.ping)

    def close(self) -> None:
        """Close every connection (the backend reconnects if used again)."""
        self._client.connection_pool.disconnect()

    def queues(self) -> list[str]:
        """Every queue that got jobs, sorted."""
        members = self._call(lambda: self._client.smembers(queues_key(self.prefix)))
        return sorted(member.decode() for member in cast(set[bytes], members))
