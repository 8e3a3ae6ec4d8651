"""Dramatiq's no-op actor on its Redis broker (default middleware)."""

from __future__ import annotations

import os

import dramatiq
from dramatiq.brokers.redis import RedisBroker

from peers import probe

broker = RedisBroker(url=os.environ["BENCH_REDIS_URL"])
dramatiq.set_broker(broker)


@dramatiq.actor(queue_name="bench")
def noop(due: float | None = None) -> None:
    probe.record(due)
