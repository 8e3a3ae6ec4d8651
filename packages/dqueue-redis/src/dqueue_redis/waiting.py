"""Waiting for a wake-up token with a deadline kept by the client, to the millisecond.

A server times out blocking commands on its own clock tick (``hz``: every 100 ms by default),
so ``BLPOP key 0.005`` returns up to 100 ms late. The worker therefore blocks on the queue's
wake-up lists (one per partition) and a private one, and keeps the deadline itself: when the
deadline passes before a token arrives, it pushes a token to its private list from another
connection, which ends the ``BLPOP`` at once. A token on a queue's list ends it whenever it
comes.

On Redis Cluster, the lists are keys of one slot (one partition's): the wait goes to the
master that holds it, as the cluster client knows it. A node that no longer holds the slot
(``MOVED``, ``ASK``) ends the wait as a token would: the caller's next script, which the
cluster client sends, learns where the slot went.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError

from dqueue.clock import Clock

__all__ = ["wait_for_token", "wait_until"]

#: The server-side timeout is a backstop only; the client's deadline comes first.
_BACKSTOP_S = 1.0
#: A private token left over (the queue's token came at the same moment) expires by itself.
_PRIVATE_TTL_MS = 60_000
#: Never spin: a token wait that came out shorter waits this long.
_MIN_WAIT_S = 0.0005
#: A worker waiting for a due time stops listening for tokens this early and sleeps the rest.
_EARLY_S = 0.002


def wait_until(
    call: Callable[[Callable[[], bool]], bool],
    client: redis.Redis | RedisCluster,
    wake_keys: Sequence[str],
    private_key: str,
    clock: Clock,
    target: float | None,
    remaining: float,
) -> None:
    """Wait for a token on ``wake_keys``, up to ``remaining`` seconds, and until ``target``.

    The token wait ends a little before ``target`` (a time on ``clock``), and a plain sleep
    covers the rest: the last stretch costs no round trip, so the next reserve starts on time.
    ``call`` runs the wait as the store runs its calls (its errors translated).
    """
    wait = remaining
    if target is not None:
        wait = min(wait, target - clock.time() - _EARLY_S)
    if wait > 0:
        seconds = max(wait, _MIN_WAIT_S)
        if call(lambda: wait_for_token(client, wake_keys, private_key, seconds)):
            return
    if target is not None:
        rest = min(target - clock.time(), remaining)
        if 0 < rest <= _EARLY_S + _MIN_WAIT_S:
            time.sleep(rest)


def wait_for_token(
    client: redis.Redis | RedisCluster, wake_keys: Sequence[str], private_key: str, seconds: float
) -> bool:
    """Block until a token arrives on one of ``wake_keys`` or ``seconds`` pass; ``True`` for one.

    On a cluster, ``wake_keys`` must be of the slot of their first.

    A wait ends early (``False``) rather than outlast the socket's read timeout.

    Raises:
        redis.RedisError: the connection failed (the caller translates it).
    """
    if isinstance(client, RedisCluster):
        cluster: Any = client  # redis-py leaves much of RedisCluster untyped
        node: redis.Redis = cluster.get_redis_connection(cluster.get_node_from_key(wake_keys[0]))
        client = node
    pool = client.connection_pool
    timeout_s = pool.connection_kwargs.get("socket_timeout")
    if timeout_s:  # end before the socket's read timeout would
        seconds = min(seconds, max(timeout_s - 2 * _BACKSTOP_S, timeout_s / 2))
    # redis-py leaves its connection class untyped.
    connection: Any = pool.get_connection()
    try:
        backstop = f"{seconds + _BACKSTOP_S:.3f}"
        connection.send_command("BLPOP", *wake_keys, private_key, backstop)
        if not connection.can_read(timeout=seconds):
            with client.pipeline(transaction=False) as pipeline:
                pipeline.rpush(private_key, "1")
                pipeline.pexpire(private_key, _PRIVATE_TTL_MS)
                pipeline.execute()
        try:
            reply = connection.read_response()
        except (MovedError, AskError):
            return True
    finally:
        # redis-py drops a connection that failed; the pool reconnects one given back unread.
        pool.release(connection)
    return isinstance(reply, list) and bool(reply) and reply[0] != private_key.encode()
