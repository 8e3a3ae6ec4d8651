"""Waiting for a wake-up token with a deadline kept by the client, to the millisecond.

A server times out blocking commands on its own clock tick (``hz``: every 100 ms by default),
so ``BLPOP key 0.005`` returns up to 100 ms late. The worker therefore blocks on two lists,
the queue's wake-up list and a private one, and keeps the deadline itself: when the deadline
passes before a token arrives, it pushes a token to its private list from another connection,
which ends the ``BLPOP`` at once. A token on the queue's list ends it whenever it comes.

On Redis Cluster, both lists are keys of the queue's slot: the wait goes to the master that
holds it, as the cluster client knows it. A node that no longer holds the slot (``MOVED``,
``ASK``) ends the wait as a token would: the caller's next script, which the cluster client
sends, learns where the slot went.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError

__all__ = ["wait_for_token"]

#: The server-side timeout is a backstop only; the client's deadline comes first.
_BACKSTOP_S = 1.0
#: A private token left over (the queue's token came at the same moment) expires by itself.
_PRIVATE_TTL_MS = 60_000


def wait_for_token(
    client: redis.Redis | RedisCluster, wake_key: str, private_key: str, seconds: float
) -> bool:
    """Block until a token arrives on ``wake_key`` or ``seconds`` pass; ``True`` for a token.

    A wait ends early (``False``) rather than outlast the socket's read timeout.

    Raises:
        redis.RedisError: the connection failed (the caller translates it).
    """
    if isinstance(client, RedisCluster):
        cluster: Any = client  # redis-py leaves much of RedisCluster untyped
        node: redis.Redis = cluster.get_redis_connection(cluster.get_node_from_key(wake_key))
        client = node
    pool = client.connection_pool
    timeout_s = pool.connection_kwargs.get("socket_timeout")
    if timeout_s:  # end before the socket's read timeout would
        seconds = min(seconds, max(timeout_s - 2 * _BACKSTOP_S, timeout_s / 2))
    # redis-py leaves its connection class untyped.
    connection: Any = pool.get_connection()
    try:
        connection.send_command("BLPOP", wake_key, private_key, f"{seconds + _BACKSTOP_S:.3f}")
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
    return isinstance(reply, list) and bool(reply) and reply[0] == wake_key.encode()
