"""Live workers where Redis decides: key TTLs on the server's clock, trimming, many queues,
hostile and malformed hashes. The contract suite (tests/contract/test_workers.py) holds the rest.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
import redis
from redis.crc import key_slot

from dqueue.backends.workers import WorkerBeat
from dqueue.clock import ManualClock
from dqueue.testing import wait_for
from dqueue_redis._store import queue_base

MakeBackend = Callable[..., Any]

LONG_TTL_S = 3600.0


def beat(name: str = "default/0", *, queue: str = "default", **fields: Any) -> WorkerBeat:
    values: dict[str, Any] = {
        "worker_id": f"web-1:100:{name}",
        "name": name,
        "queue": queue,
        "host": "web-1",
        "pid": 100,
        "started_at": 1_764_230_000.0,
    }
    values.update(fields)
    return WorkerBeat(**values)


def _worker_keys(raw: redis.Redis, prefix: str) -> list[bytes]:
    return sorted(raw.scan_iter(match=f"{prefix}:*:worker*"))


def _server_time(raw: redis.Redis) -> float:
    seconds, micros = raw.time()
    return seconds + micros / 1_000_000


def test_beats_are_timed_by_the_server_whatever_the_backends_clock_says(
    make_backend: MakeBackend, raw: redis.Redis
) -> None:
    clock = ManualClock(0.0)  # 1970: a worker whose clock is far off
    backend = make_backend(clock=clock)
    before = _server_time(raw)

    backend.beat(beat(), ttl_s=LONG_TTL_S)

    after = _server_time(raw)
    clock.advance(10 * LONG_TTL_S)
    (listed,) = backend.workers()
    assert before <= listed.beat_at <= after


def test_a_worker_whose_beats_stop_leaves_no_key_once_listed(
    make_backend: MakeBackend, raw: redis.Redis, redis_prefix: str
) -> None:
    backend = make_backend()
    backend.beat(beat(), ttl_s=0.2)

    wait_for(lambda: backend.workers() == [], what="the beat to run out")

    assert _worker_keys(raw, redis_prefix) == []


def test_a_queue_whose_workers_all_died_keeps_nothing_even_unread(
    make_backend: MakeBackend, raw: redis.Redis, redis_prefix: str
) -> None:
    backend = make_backend()
    backend.beat(beat("default/0"), ttl_s=0.2)
    backend.beat(beat("default/1"), ttl_s=0.3)

    wait_for(
        lambda: _worker_keys(raw, redis_prefix) == [],
        what="every worker key to expire",
        explain=lambda: repr(_worker_keys(raw, redis_prefix)),
    )


def test_a_beat_trims_the_members_whose_beats_ran_out(
    make_backend: MakeBackend, raw: redis.Redis, redis_prefix: str
) -> None:
    backend = make_backend()
    backend.beat(beat("default/0"), ttl_s=0.1)
    dead_key = f"{queue_base(redis_prefix, 'default')}worker:web-1:100:default/0"
    wait_for(lambda: not raw.exists(dead_key), what="the short beat to expire")

    backend.beat(beat("default/1"), ttl_s=LONG_TTL_S)

    members = raw.zrange(f"{queue_base(redis_prefix, 'default')}workers", 0, -1)
    assert members == [b"web-1:100:default/1"]


def test_a_listing_trims_a_member_whose_hash_is_gone(
    make_backend: MakeBackend, raw: redis.Redis, redis_prefix: str
) -> None:
    backend = make_backend()
    backend.beat(beat("default/0"), ttl_s=LONG_TTL_S)
    backend.beat(beat("default/1"), ttl_s=LONG_TTL_S)
    base = queue_base(redis_prefix, "default")
    raw.delete(f"{base}worker:web-1:100:default/0")  # as if evicted

    assert [one.name for one in backend.workers()] == ["default/1"]
    assert raw.zrange(f"{base}workers", 0, -1) == [b"web-1:100:default/1"]


def test_the_workers_of_many_queues_are_listed_together(make_backend: MakeBackend) -> None:
    backend = make_backend()
    queues = [f"queue-{number:03d}" for number in range(200)]
    for queue in reversed(queues):
        backend.beat(beat(f"{queue}/0", queue=queue), ttl_s=LONG_TTL_S)

    assert [one.queue for one in backend.workers()] == queues
    assert [one.queue for one in backend.workers(queues[10:13])] == queues[10:13]


def test_hostile_values_stay_in_their_queues_slot_and_come_back_exactly(
    make_backend: MakeBackend, raw: redis.Redis, redis_prefix: str
) -> None:
    backend = make_backend()
    queue = "a}:workers{b%"
    sent = beat(
        "{x}:worker:\x00\r\n",
        queue=queue,
        host="host-\udcff",  # a lone surrogate, as os.fsdecode gives for undecodable bytes
        job_id="job-\x1b[2J",
        job_task="t" * 1_000_000,
        job_started_at=float("nan"),
    )

    backend.beat(sent, ttl_s=LONG_TTL_S)

    (listed,) = backend.workers()
    assert (listed.host, listed.job_id, listed.job_task) == (sent.host, sent.job_id, sent.job_task)
    assert (listed.worker_id, listed.queue) == (sent.worker_id, queue)
    slot = key_slot((queue_base(redis_prefix, queue) + "jobs").encode())
    assert {key_slot(key) for key in _worker_keys(raw, redis_prefix)} == {slot}


def test_a_hash_that_is_not_a_beat_is_skipped_and_logged(
    make_backend: MakeBackend,
    raw: redis.Redis,
    redis_prefix: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = make_backend()
    backend.beat(beat(), ttl_s=LONG_TTL_S)
    base = queue_base(redis_prefix, "default")
    good = {"name": "n", "host": "h", "pid": "1", "started_at": "1.0", "beat_at": "1.0"}
    broken = {
        "bad-pid": {**good, "pid": "secret-value"},
        "no-host": {key: value for key, value in good.items() if key != "host"},
        "bad-name": {**good, "name": b"\xff\xfe"},
    }
    for worker_id, fields in broken.items():
        raw.hset(f"{base}worker:{worker_id}", mapping=fields)  # type: ignore[arg-type]
    raw.set(f"{base}worker:not-a-hash", "secret-value")
    raw.zadd(f"{base}workers", dict.fromkeys([*broken, "not-a-hash"], 9000000000000.0))

    with caplog.at_level(logging.WARNING, logger="dqueue.redis"):
        listed = backend.workers()

    assert [one.worker_id for one in listed] == [beat().worker_id]
    messages = [record.getMessage() for record in caplog.records]
    assert len(messages) == 4
    assert all("secret-value" not in message for message in messages)
    assert any("pid" in message for message in messages)
    assert any("host" in message for message in messages)


def test_forget_through_another_backend_drops_the_worker(make_backend: MakeBackend) -> None:
    beating, stopping = make_backend(), make_backend()
    beating.beat(beat(queue="emails"), ttl_s=LONG_TTL_S)
    beating.beat(beat("default/1"), ttl_s=LONG_TTL_S)

    stopping.forget(beat().worker_id)

    assert [one.name for one in beating.workers()] == ["default/1"]


def test_a_worker_that_moved_queues_through_another_backend_is_listed_once(
    make_backend: MakeBackend,
) -> None:
    make_backend().beat(beat(queue="emails"), ttl_s=LONG_TTL_S)

    make_backend().beat(beat(queue="reports"), ttl_s=LONG_TTL_S)

    assert [one.queue for one in make_backend().workers()] == ["reports"]


@pytest.mark.parametrize("ttl_s", [0.0, -1.0, float("nan"), float("inf"), 1e300])
def test_a_ttl_out_of_range_is_refused_and_nothing_is_stored(
    make_backend: MakeBackend, ttl_s: float
) -> None:
    backend = make_backend()

    with pytest.raises(ValueError, match="ttl_s"):
        backend.beat(beat(), ttl_s=ttl_s)

    assert backend.workers(["default"]) == []
