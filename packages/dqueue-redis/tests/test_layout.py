"""The key layout: one hash tag per queue, escaped names, the types the README documents."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import redis
from redis.crc import key_slot

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.workers import WorkerBeat
from dqueue.job import Job
from dqueue_redis._store import queue_base

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]

#: The README's key table: suffix after "<prefix>:{<queue>}:" -> type.
DOCUMENTED = {
    "jobs": "hash",
    "runs": "hash",
    "prio": "hash",
    "prios": "zset",
    "ready": "list",
    "ready:<p>": "list",
    "delayed": "zset",
    "seq": "string",
    "inflight": "zset",
    "wake": "list",
    "timer": "string",
    "paused": "string",
    "uniq": "hash",
    "rec": "hash",
    "u:<key>": "string",
    "dead": "zset",
    "dead:data": "hash",
    "lateness": "list",
    "done": "zset",
    "cancelled": "set",
    "r:<id>": "hash",
    "w:<waiter>": "list",
    "workers": "zset",
    "worker:<id>": "hash",
}


def _suffix_pattern(suffix: str) -> str:
    names = {"ready:": "<p>", "u:": "<key>", "r:": "<id>", "w:": "<waiter>", "worker:": "<id>"}
    for head, name in names.items():
        if suffix.startswith(head):
            return head + name
    return suffix


def _fill(backend: object, make_job: MakeJob, queue: str) -> None:
    from dqueue_redis.backends import _RedisBackendBase

    assert isinstance(backend, _RedisBackendBase)
    now = time.time()
    backend.enqueue_many(
        [
            make_job(queue=queue),
            make_job(queue=queue, priority=3, unique_key="u1", result_ttl=60.0),
            make_job(queue=queue, run_after=now + 3600),
            make_job(queue=queue),
        ]
    )
    first, second = backend.reserve(queue, worker_id="w", timeout_s=0, limit=2)
    backend.settle([Outcome(job=first, kind=OutcomeKind.DEAD, started_at=now)], worker_id="w")
    backend.cancel([second.id])  # in flight, at-least-once: marked
    backend.pause(queue, now + 3600)
    backend.resume(queue)
    backend.pause(queue, now + 3600)
    worker = WorkerBeat(worker_id="w", name="n", queue=queue, host="h", pid=1, started_at=now)
    backend.beat(worker, ttl_s=3600)


def test_every_key_of_a_queue_shares_its_hash_slot(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis, redis_prefix: str
) -> None:
    backend = make_backend()
    for queue in ("default", "mail"):
        _fill(backend, make_job, queue)

    for queue in ("default", "mail"):
        keys = list(raw.scan_iter(match=f"{redis_prefix}:{{{queue}}}:*"))
        assert keys
        expected = key_slot((queue_base(redis_prefix, queue) + "jobs").encode())
        assert {key_slot(key) for key in keys} == {expected}


def test_every_stored_key_is_documented_with_its_type(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis, redis_prefix: str
) -> None:
    backend = make_backend()
    _fill(backend, make_job, "default")
    base = f"{redis_prefix}:{{default}}:"

    found = {}
    for key in raw.scan_iter(match=f"{redis_prefix}:*"):
        name = key.decode()
        if name == f"{redis_prefix}:queues":
            assert raw.type(key) == b"set"
            continue
        suffix = _suffix_pattern(name.removeprefix(base))
        found[suffix] = raw.type(key).decode()

    assert found
    assert {suffix: DOCUMENTED.get(suffix) for suffix in found} == found


def test_a_queue_name_cannot_break_out_of_its_hash_tag(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis, redis_prefix: str
) -> None:
    backend = make_backend()
    tricky = "a}:jobs{b%"
    backend.enqueue(make_job(queue=tricky))
    backend.enqueue(make_job(queue="a"))

    base = queue_base(redis_prefix, tricky)
    assert base == f"{redis_prefix}:{{a%7D:jobs%7Bb%25}}:"
    assert raw.hlen(base + "jobs") == 1
    assert backend.queues() == ["a", tricky]
    assert [job.queue for job in backend.reserve(tricky, worker_id="w", timeout_s=0)] == [tricky]


def test_at_most_once_a_reserved_job_has_left_the_store(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis, redis_prefix: str
) -> None:
    from dqueue_redis import RedisBackend

    backend = make_backend(cls=RedisBackend)
    backend.enqueue(make_job())

    backend.reserve("default", worker_id="w", timeout_s=0)

    assert raw.hlen(f"{redis_prefix}:{{default}}:jobs") == 0


def test_at_least_once_a_reserved_job_stays_leased_to_its_worker_and_attempt(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis, redis_prefix: str
) -> None:
    from dqueue_redis import ReliableRedisBackend

    backend = make_backend(cls=ReliableRedisBackend)
    job = make_job()
    backend.enqueue(job)

    backend.reserve("default", worker_id="host:1:abc", timeout_s=0)

    base = f"{redis_prefix}:{{default}}:"
    assert raw.hget(base + "runs", job.id) == b"1|host:1:abc"
    assert raw.zscore(base + "inflight", job.id) is not None
    assert raw.hexists(base + "jobs", job.id)
