"""A million delayed jobs must not slow enqueue or reserve (timings are printed, not asserted)."""

from __future__ import annotations

import time

import pytest
import redis

from dqueue.job import Job
from dqueue.settings import Settings
from dqueue_redis import ReliableRedisBackend
from tests.support.redis_server import RedisServer
from tests.support.settling import ack

MILLION = 1_000_000
_SLICE = 20_000
#: Fill the delayed set server-side: a million jobs through the client would take minutes.
_FILL = """
local base, first, count, due = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[4]
for i = first, first + count - 1 do
  local id = 'bulk-' .. i
  redis.call('HSET', base .. 'jobs', id, '{"v":1,"id":"' .. id .. '","task":"t"}')
  redis.call('ZADD', base .. 'delayed', due + i, string.format('%014d:', i) .. id)
end
return count
"""


@pytest.mark.slow
def test_a_million_delayed_jobs_leave_enqueue_and_reserve_fast(
    redis_server: RedisServer, raw: redis.Redis, redis_prefix: str
) -> None:
    settings = Settings().replace(REDIS_URL=redis_server.url, REDIS_PREFIX=redis_prefix)
    backend = ReliableRedisBackend.from_settings(settings)
    base = f"{redis_prefix}:{{default}}:"
    fill = raw.register_script(_FILL)
    far = time.time() + 86_400
    started = time.perf_counter()
    # In slices short enough for the client's socket timeout on a loaded machine: one script
    # of 100,000 took over 5 s there.
    for first in range(0, MILLION, _SLICE):
        fill(keys=[base + "jobs"], args=[base, first, _SLICE, far])
    raw.set(base + "seq", MILLION)
    filled_s = time.perf_counter() - started
    try:
        samples: list[tuple[float, float]] = []
        for round_ in range(200):
            ready = Job(id=f"r{round_}", task="t", enqueued_at=time.time())
            delayed = Job(id=f"d{round_}", task="t", enqueued_at=time.time(), run_after=far - 3600)
            t0 = time.perf_counter()
            backend.enqueue_many([ready, delayed])
            t1 = time.perf_counter()
            taken = backend.reserve("default", worker_id="w", timeout_s=0)
            t2 = time.perf_counter()
            assert [job.id for job in taken] == [ready.id]
            ack(backend, taken[0], worker_id="w")
            samples.append((t1 - t0, t2 - t1))

        counts = backend.counts("default")
        assert (counts.ready, counts.delayed) == (0, MILLION + 200)
        enqueue_ms = sorted(1000 * sample[0] for sample in samples)
        reserve_ms = sorted(1000 * sample[1] for sample in samples)
        print(
            f"\nfilled {MILLION} delayed jobs in {filled_s:.1f}s; with them, enqueue p50 "
            f"{enqueue_ms[100]:.3f} ms p99 {enqueue_ms[198]:.3f} ms, reserve p50 "
            f"{reserve_ms[100]:.3f} ms p99 {reserve_ms[198]:.3f} ms"
        )
    finally:
        raw.unlink(base + "jobs", base + "delayed")
        backend.close()
