"""What both Redis backends share: the connection, key layout, scripts and error handling."""

from __future__ import annotations

import os
import secrets
import threading
import weakref
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, TypeVar, cast

import redis
from redis.exceptions import NoScriptError

from dqueue.backends.base import Backend
from dqueue.clock import SYSTEM_CLOCK, Clock
from dqueue.settings import Settings

from .connection import connect, describe_target, translate_error
from .keys import QueueKeys, queues_key
from .scripts import SCRIPTS, Arg, Script, run_in_pipeline
from .settings import RedisSettings

__all__ = ["RedisStore", "pack_command"]

T = TypeVar("T")


def pack_command(args: Sequence[Arg]) -> bytes:
    """A command in the Redis protocol: the hot path's arguments are few kinds, packed at once.

    Strings are UTF-8; numbers are written with ``str`` (callers pass floats as ``repr``).
    """
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = (
            arg.encode()
            if isinstance(arg, str)
            else arg
            if isinstance(arg, bytes)
            else str(arg).encode()
        )
        parts.append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(parts)


class RedisStore(Backend):
    """The plumbing under :class:`~dqueue_redis.RedisBackend` and its reliable sibling."""

    supports_priority: ClassVar[bool] = True
    supports_results: ClassVar[bool] = True
    supports_workers: ClassVar[bool] = True
    #: At-least-once: reserved jobs stay stored, leased, until settled.
    reliable: ClassVar[bool] = False

    def __init__(self, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(settings, clock=clock)
        self.target = describe_target(settings)
        self.prefix = settings.section(RedisSettings).REDIS_PREFIX
        self._client = connect(settings)
        self._keys_of: dict[str, QueueKeys] = {}
        self._known_queues: set[str] = set()
        self._instance = secrets.token_hex(4)
        self._mode = "1" if self.reliable else "0"
        self._local = threading.local()
        self._held: weakref.WeakSet[Any] = weakref.WeakSet()

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

    def _connection(self) -> Any:
        """This thread's own connection, for scripts: no pool checkout per call.

        A forked child gets a new one (the parent's socket is the parent's). redis-py leaves
        its connection class untyped.
        """
        local = self._local
        connection = getattr(local, "connection", None)
        if connection is None or local.pid != os.getpid():
            pool = self._client.connection_pool
            connection = pool.connection_class(**pool.connection_kwargs)
            local.connection, local.pid = connection, os.getpid()
            self._held.add(connection)
        return connection

    def _evalsha(self, script: Script, command: Sequence[Arg]) -> Any:
        connection = self._connection()
        packed = pack_command(command)
        try:
            try:
                connection.send_packed_command([packed])
                return connection.read_response()
            except NoScriptError:
                # A restarted or failed-over server forgot it; the refused call never ran.
                connection.send_command("SCRIPT", "LOAD", script.source)
                connection.read_response()
                connection.send_packed_command([packed])
                return connection.read_response()
        except redis.ResponseError:
            raise  # the reply was read whole: the connection is still in step
        except BaseException:
            connection.disconnect()
            raise

    def _script(
        self, name: str, queue: str, args: Sequence[Arg], *, idempotent: bool = True
    ) -> Any:
        """Run script ``name`` on ``queue`` (its base key first, then ``args``)."""
        script = SCRIPTS[name]
        keys = self.keys(queue)
        command = ["EVALSHA", script.sha, 1, keys.jobs, keys.base, *args]
        return self._call(lambda: self._evalsha(script, command), idempotent=idempotent)

    def _scripts(self, calls: Sequence[tuple[str, str, Sequence[Arg]]]) -> list[Any]:
        """Run scripts, each on its queue, in one round trip (a pipeline when several)."""
        prepared: list[tuple[Script, str, Sequence[Arg]]] = []
        for name, queue, args in calls:
            keys = self.keys(queue)
            prepared.append((SCRIPTS[name], keys.jobs, [keys.base, *args]))
        if len(prepared) == 1:
            name, queue, args = calls[0]
            return [self._script(name, queue, args)]
        return self._call(lambda: run_in_pipeline(self._client, prepared))

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
        for connection in list(self._held):
            if connection.pid == os.getpid():
                connection.disconnect()
        self._client.close()

    def queues(self) -> list[str]:
        """Every queue that got jobs, sorted."""
        members = self._call(lambda: self._client.smembers(queues_key(self.prefix)))
        return sorted(member.decode() for member in cast(set[bytes], members))
