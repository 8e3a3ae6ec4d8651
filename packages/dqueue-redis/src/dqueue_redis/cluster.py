"""Redis Cluster: the ``redis+cluster://`` URL, its client, and scripts run on the right node.

``redis+cluster://[user:password@]host:port[,host:port…]`` names startup nodes (any node of the
cluster, several in case one is down); the client, redis-py's ``RedisCluster``, learns the rest
of the cluster from them. ``rediss+cluster://`` speaks TLS. A cluster has one database, so the
URL names none.

Every key of a queue carries the queue's hash tag (:func:`~dqueue_redis._store.queue_base`), so
a script on a queue runs on one node: the master of the queue's slot, where redis-py routes
``EVALSHA`` by the one key each script is given. The one global key, the queue list, is a key
of its own (the package README has the key table), and no command names it beside another key.
redis-py follows ``MOVED`` and ``ASK`` and reads the cluster's layout again after a connection
error; like the single-server client, it does not retry a command that may have run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import redis
from redis.cluster import ClusterNode, RedisCluster
from redis.commands.core import Script
from redis.exceptions import NoScriptError, RedisClusterException

from dqueue.errors import BackendUnavailable, ConfigurationError

from ._urls import parse_host_list
from .scripts import Arg

__all__ = [
    "SCHEMES",
    "ClusterScripts",
    "ClusterTarget",
    "location",
    "node_of",
    "parse_cluster_url",
]

#: The schemes that select Redis Cluster, plain and TLS.
SCHEMES = ("redis+cluster", "rediss+cluster")


@dataclass(frozen=True, slots=True)
class ClusterTarget:
    """What a ``redis+cluster://`` URL says."""

    nodes: tuple[tuple[str, int], ...]
    username: str | None = None
    password: str | None = None
    tls: bool = False

    def describe(self) -> str:
        """The URL without the password, for messages."""
        scheme = SCHEMES[1] if self.tls else SCHEMES[0]
        user = f"{self.username}@" if self.username else ""
        return f"{scheme}://{user}{','.join(f'{host}:{port}' for host, port in self.nodes)}"

    def connect(self, options: dict[str, Any]) -> RedisCluster:
        """A client of the cluster, with the connection ``options``.

        The client reads the cluster's layout from the first startup node that answers.

        Raises:
            ConfigurationError: this redis-py has no transactions in cluster pipelines, which
                the backends use on one queue's keys.
            BackendUnavailable: no startup node answered, or the cluster does not cover every
                slot.
        """
        if not hasattr(redis.cluster, "TransactionStrategy"):
            raise ConfigurationError(
                f"DQUEUE_REDIS_URL names a Redis Cluster: that needs a redis-py with transactions"
                f" in cluster pipelines (6.1 or later), not {redis.__version__}"
            )
        try:
            # redis-py leaves ClusterNode untyped.
            node: Any = ClusterNode
            return RedisCluster(
                startup_nodes=[node(host, port) for host, port in self.nodes],
                username=self.username,
                password=self.password,
                ssl=self.tls,
                **options,
            )
        except (redis.RedisError, RedisClusterException) as exc:
            raise BackendUnavailable(f"Redis Cluster at {self.describe()}: {exc}") from exc


def parse_cluster_url(url: str) -> ClusterTarget:
    """Read a ``redis+cluster://`` URL.

    Raises:
        ConfigurationError: no node, a node without a valid port, or a database named; the
            message names the part, never the password.
    """
    parsed = parse_host_list(
        url,
        SCHEMES,
        system="Redis Cluster",
        host_word="cluster node",
        usage="redis+cluster://host:port[,host:port...]",
    )
    if parsed.path not in ("", "0"):
        raise ConfigurationError(
            "DQUEUE_REDIS_URL: a Redis Cluster has database 0 only; name none after the nodes"
        )
    return ClusterTarget(parsed.hosts, parsed.username, parsed.password, tls=parsed.tls)


def node_of(client: RedisCluster, key: str) -> str:
    """``host:port`` of the master that holds ``key``'s slot, as the client knows it now."""
    cluster: Any = client  # redis-py leaves much of RedisCluster untyped
    node = cluster.get_node_from_key(key)
    return f"{node.host}:{node.port}"


def location(client: redis.Redis | RedisCluster, key: str) -> str | None:
    """``host:port slot N``: where a cluster keeps ``key``; ``None`` for a single server."""
    if not isinstance(client, RedisCluster):
        return None
    cluster: Any = client  # redis-py leaves much of RedisCluster untyped
    return f"{node_of(client, key)} slot {cluster.keyslot(key)}"


class ClusterScripts:
    """Runs scripts on a cluster, each on the master of its key's slot (see the module).

    The counterpart of :class:`~dqueue_redis.scripts.HeldConnections`: redis-py's cluster
    client picks the node and the connection, and follows ``MOVED`` and ``ASK``.
    """

    def __init__(self, client: RedisCluster) -> None:
        self._client: Any = client  # redis-py leaves much of RedisCluster untyped

    def run_and_wait(
        self, script: Script, key_and_args: Sequence[Arg], wait: tuple[int, int] | None
    ) -> tuple[Any, int]:
        """Run ``script`` with one key (the first of ``key_and_args``); see :meth:`run_all`."""
        if wait is None:
            return script(keys=[str(key_and_args[0])], args=key_and_args[1:]), 0
        replies, acknowledged = self.run_all([(script, key_and_args)], wait)
        return replies[0], acknowledged

    def run_all(
        self, calls: Sequence[tuple[Script, Sequence[Arg]]], wait: tuple[int, int] | None
    ) -> tuple[list[Any], int]:
        """Run scripts (each with one key, then its arguments) in one pipeline; their replies.

        With ``wait`` (replicas, timeout in ms), ``WAIT`` follows the scripts on each node they
        ran on, on the same connection, and the count returned is the smallest: every write
        reached that many replicas; none when a script was redirected to another master (its
        ``WAIT`` asked the node it left), so that the caller tries again on the new one. A
        script a node did not know (``NOSCRIPT``: it never ran) is loaded and run again.

        Raises:
            redis.RedisError: a script failed, or a node could not be reached.
        """
        replies: list[Any] = [None] * len(calls)
        pending = list(range(len(calls)))
        acknowledged = wait[0] if wait is not None else 0
        for _ in range(2):
            with self._client.pipeline() as pipeline:
                nodes: dict[str, ClusterNode] = {}
                for index in pending:
                    script, key_and_args = calls[index]
                    pipeline.execute_command("EVALSHA", script.sha, 1, *key_and_args)
                    node = self._client.get_node_from_key(str(key_and_args[0]))
                    nodes[node.name] = node
                for node in nodes.values():
                    if wait is not None:
                        pipeline.execute_command("WAIT", *wait, target_nodes=node)
                answers = pipeline.execute(raise_on_error=False)
            if wait is not None and self._moved(calls, pending, nodes):
                # A script followed MOVED (a failover, a reshard) to another master, and its
                # WAIT went to the node it left: nothing says a replica holds the write.
                acknowledged = 0
            else:
                for count in answers[len(pending) :]:
                    acknowledged = min(acknowledged, _count(count))
            missing = []
            for index, answer in zip(pending, answers, strict=False):
                replies[index] = answer
                if isinstance(answer, NoScriptError):
                    missing.append(index)
            if not missing:
                break
            for script in {id(calls[index][0]): calls[index][0] for index in missing}.values():
                self._client.script_load(script.script)  # on every master
            pending = missing
        for answer in replies:
            if isinstance(answer, Exception):
                raise answer
        return replies, acknowledged

    def _moved(
        self,
        calls: Sequence[tuple[Script, Sequence[Arg]]],
        pending: Sequence[int],
        nodes: dict[str, ClusterNode],
    ) -> bool:
        """Whether the slot of a script now belongs to a node it was not sent to.

        redis-py updates its map of slots when it follows ``MOVED``.
        """
        return any(
            self._client.get_node_from_key(str(calls[index][1][0])).name not in nodes
            for index in pending
        )


def _count(answer: Any) -> int:
    if isinstance(answer, Exception):
        raise answer
    return int(answer)
