"""The physical floor: plain redis-py, no framework.

Producing is ``LPUSH`` of a job-sized JSON document (one by one, or pipelined); consuming is
``python -m peers.floor`` doing one ``BRPOP`` per job, decoding it and calling the probe, which
is the least that any Redis list queue must do per job.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import uuid

import redis

from peers import probe

QUEUE_KEY = "floor:bench"


def payload(due: float | None = None) -> str:
    """A document as large as a job envelope, so the floor moves the same bytes."""
    return json.dumps(
        {
            "v": 1,
            "id": uuid.uuid4().hex,
            "task": "peers.floor.noop",
            "queue": "bench",
            "args": [] if due is None else [due],
            "kwargs": {},
            "enqueued_at": time.time(),
            "run_after": None,
            "attempt": 0,
            "max_attempts": 3,
            "timeout": None,
            "sigkill_on_stop": False,
            "unique_key": None,
            "priority": 0,
        },
        separators=(",", ":"),
    )


def consume_forever(url: str) -> None:
    """BRPOP one job at a time and run it, until SIGTERM."""
    client = redis.Redis.from_url(url)
    stopping = False

    def stop(signum: int, frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    while not stopping:
        item = client.brpop([QUEUE_KEY], timeout=1)
        if item is None:
            continue
        job = json.loads(item[1])
        args = job["args"]
        probe.record(args[0] if args else None)


if __name__ == "__main__":
    consume_forever(os.environ["BENCH_REDIS_URL"])
    sys.exit(0)
