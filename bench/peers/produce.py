"""Producers: enqueue no-op jobs through each system's own client API, timed.

Run by the harness: one long-lived ``serve`` process per system for the enqueue figures, and a
fresh process for every fill and every batch of delayed jobs::

    python -m peers.produce SYSTEM one N       # N enqueues, one call each
    python -m peers.produce SYSTEM bulk N      # N enqueues through the system's bulk API
    python -m peers.produce SYSTEM fill N      # bulk where there is one, else one by one
    python -m peers.produce SYSTEM delayed N LEAD SPREAD   # N jobs due over SPREAD seconds
    python -m peers.produce SYSTEM far N       # N jobs due in a day (they never run here)
    python -m peers.produce SYSTEM stream RATE SECONDS   # RATE jobs/s, one call each, paced
    python -m peers.produce SYSTEM serve       # the same operations, one per stdin line

It prints one JSON line: ``{"seconds": ..., "n": ...}`` (the enqueue loop only: imports and
connecting are done before the clock starts), or ``{"unsupported": "..."}``.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

BULK_BATCH = 1000


class Unsupported(Exception):
    """The system has no API for this."""


class Producer:
    """Enqueue no-op jobs into one system. Subclasses bind the system's client API."""

    def connect(self) -> None:
        """Open connections before the clock starts."""

    def one(self, n: int) -> None:
        raise NotImplementedError

    def bulk(self, n: int) -> None:
        raise Unsupported("no bulk enqueue API")

    def delayed(self, dues: list[float]) -> None:
        raise Unsupported("no delayed jobs")

    def delayed_bulk(self, dues: list[float]) -> None:
        """Delayed jobs through the bulk API where there is one (only the load they make counts)."""
        self.delayed(dues)


class DqueueProducer(Producer):
    def __init__(self) -> None:
        import dqueue
        from peers.dqueue_tasks import noop

        self.dqueue = dqueue
        self.noop = noop

    def connect(self) -> None:
        self.dqueue.get_backend("bench").ping()

    def one(self, n: int) -> None:
        noop = self.noop
        for _ in range(n):
            noop.enqueue()

    def bulk(self, n: int) -> None:
        noop = self.noop
        with self.dqueue.bulk_enqueue(batch_size=BULK_BATCH):
            for _ in range(n):
                noop.enqueue()

    def delayed(self, dues: list[float]) -> None:
        for due in dues:
            self.noop.using(run_after=datetime.fromtimestamp(due, UTC)).enqueue(due)

    def delayed_bulk(self, dues: list[float]) -> None:
        with self.dqueue.bulk_enqueue(batch_size=BULK_BATCH):
            self.delayed(dues)


class RqProducer(Producer):
    def __init__(self) -> None:
        from redis import Redis
        from rq import Queue

        from peers.rq_tasks import noop

        self.connection = Redis.from_url(os.environ["BENCH_REDIS_URL"])
        self.queue = Queue("bench", connection=self.connection)
        self.noop = noop

    def connect(self) -> None:
        self.connection.ping()

    def one(self, n: int) -> None:
        for _ in range(n):
            self.queue.enqueue(self.noop)

    def bulk(self, n: int) -> None:
        from rq import Queue

        for start in range(0, n, BULK_BATCH):
            count = min(BULK_BATCH, n - start)
            self.queue.enqueue_many([Queue.prepare_data(self.noop) for _ in range(count)])

    def delayed(self, dues: list[float]) -> None:
        for due in dues:
            self.queue.enqueue_at(datetime.fromtimestamp(due, UTC), self.noop, due)


class DramatiqProducer(Producer):
    def __init__(self) -> None:
        from peers.dramatiq_tasks import broker, noop

        self.broker = broker
        self.noop = noop

    def connect(self) -> None:
        self.broker.client.ping()

    def one(self, n: int) -> None:
        for _ in range(n):
            self.noop.send()

    def delayed(self, dues: list[float]) -> None:
        for due in dues:
            delay_ms = max(0, round((due - time.time()) * 1000))
            self.noop.send_with_options(args=(due,), delay=delay_ms)


class HueyProducer(Producer):
    def __init__(self) -> None:
        from peers.huey_tasks import huey, noop

        self.huey = huey
        self.noop = noop

    def connect(self) -> None:
        self.huey.pending_count()

    def one(self, n: int) -> None:
        for _ in range(n):
            self.noop()

    def delayed(self, dues: list[float]) -> None:
        for due in dues:
            self.noop.schedule(args=(due,), delay=max(0.0, due - time.time()))


class CeleryProducer(Producer):
    def __init__(self) -> None:
        from peers.celery_tasks import app, noop

        self.app = app
        self.noop = noop

    def connect(self) -> None:
        with self.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=3)

    def one(self, n: int) -> None:
        for _ in range(n):
            self.noop.delay()

    def bulk(self, n: int) -> None:
        # One producer (one connection) for every message, as Celery's docs advise for bulk
        # sending; it was faster here than ``group(...).apply_async()``.
        with self.app.producer_or_acquire() as producer:
            for _ in range(n):
                self.noop.apply_async(producer=producer)

    def delayed(self, dues: list[float]) -> None:
        for due in dues:
            self.noop.apply_async(args=(due,), eta=datetime.fromtimestamp(due, UTC))


class FloorProducer(Producer):
    def __init__(self) -> None:
        import redis

        from peers import floor

        self.floor = floor
        self.client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])

    def connect(self) -> None:
        self.client.ping()

    def one(self, n: int) -> None:
        lpush, payload, key = self.client.lpush, self.floor.payload, self.floor.QUEUE_KEY
        for _ in range(n):
            lpush(key, payload())

    def bulk(self, n: int) -> None:
        payload, key = self.floor.payload, self.floor.QUEUE_KEY
        for start in range(0, n, BULK_BATCH):
            pipe = self.client.pipeline(transaction=False)
            for _ in range(min(BULK_BATCH, n - start)):
                pipe.lpush(key, payload())
            pipe.execute()


PRODUCERS: dict[str, Callable[[], Producer]] = {
    "dqueue": DqueueProducer,
    "rq": RqProducer,
    "dramatiq": DramatiqProducer,
    "huey": HueyProducer,
    "celery": CeleryProducer,
    "floor": FloorProducer,
}


def run(producer: Producer, op: str, n: int, extra: list[str]) -> dict[str, object]:
    """One timed operation; the reply to print."""
    try:
        if op == "delayed":
            lead, spread = float(extra[0]), float(extra[1])
            base = time.time() + lead
            dues = [base + spread * index / n for index in range(n)]
            started = time.perf_counter()
            producer.delayed(dues)
        elif op == "fill":
            started = time.perf_counter()
            try:
                producer.bulk(n)
            except Unsupported:
                producer.one(n)
        elif op == "far":
            dues = [time.time() + 86_400.0] * n
            started = time.perf_counter()
            producer.delayed_bulk(dues)
        elif op == "stream":
            started = time.perf_counter()
            n = stream(producer, rate=n, seconds=float(extra[0]))
        elif op in ("one", "bulk"):
            started = time.perf_counter()
            getattr(producer, op)(n)
        else:
            return {"error": f"unknown operation {op!r}"}
        seconds = time.perf_counter() - started
    except Unsupported as exc:
        return {"unsupported": str(exc)}
    return {"seconds": seconds, "n": n}


def stream(producer: Producer, *, rate: int, seconds: float) -> int:
    """Enqueue ``rate`` jobs a second for ``seconds``, one call each, in 10 ms steps; the count."""
    sent = 0
    started = time.monotonic()
    while (elapsed := time.monotonic() - started) < seconds:
        due = min(round(elapsed * rate) + 1, round(seconds * rate))
        if due > sent:
            producer.one(due - sent)
            sent = due
        time.sleep(0.01)
    return sent


def serve(producer: Producer) -> None:
    """Answer ``OP N`` lines from stdin, one JSON line each, until stdin closes.

    The harness keeps one such process per system and alternates between them, so that every
    system's enqueue figures are taken at nearly the same moments of a busy machine.
    """
    for line in sys.stdin:
        words = line.split()
        if not words:
            continue
        reply = run(producer, words[0], int(words[1]), words[2:])
        print(json.dumps(reply), flush=True)


def main(argv: list[str]) -> int:
    system, op = argv[0], argv[1]
    producer = PRODUCERS[system]()
    producer.connect()
    if op == "serve":
        print(json.dumps({"ready": True}), flush=True)
        serve(producer)
        return 0
    print(json.dumps(run(producer, op, int(argv[2]), argv[3:])))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
