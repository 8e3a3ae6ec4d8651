"""What every benchmarked task calls: counts runs and lateness, cheaply, in any worker model.

A no-op task of each system calls :func:`record`. The probe keeps the count, the first and
last run times and the lateness of delayed jobs in memory, and a daemon thread writes them to
``$BENCH_PROBE_DIR/<pid>.json`` every few milliseconds (atomically, by rename). The harness
sums those files. Nothing here touches the store under test, so counting costs every system
the same (a lock and a few list appends per job) and adds no round trip to the store.

With ``BENCH_PROBE_INCR=1`` each run also does one ``INCR`` on the Redis server at
``$BENCH_REDIS_URL`` (a client per process, made on first use): the second view of a drain, a
job that touches the store once, as most real jobs do.

With ``BENCH_PROBE_SLEEP_S`` each run also sleeps that long: a job that waits on I/O, which a
second worker process can overlap (``bench_runner.py``).
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import threading
import time
from typing import Any

FLUSH_INTERVAL_S = 0.02
#: Write on every run: for workers that fork a process per job (RQ's default ``Worker``), whose
#: child exits with ``os._exit`` before a flusher thread could write.
SYNC = os.environ.get("BENCH_PROBE_SYNC") == "1"
#: One Redis round trip per run (see the module docstring).
INCR = os.environ.get("BENCH_PROBE_INCR") == "1"
INCR_KEY = "bench:probe:incr"
#: Seconds each run waits, as a job waiting on I/O does (see the module docstring).
SLEEP_S = float(os.environ.get("BENCH_PROBE_SLEEP_S") or 0)

_lock = threading.Lock()
_pid = -1
_count = 0
_first: float | None = None
_last: float | None = None
_lateness: list[float] = []
_dirty = False
_client: Any = None
_client_pid = -1


def record(due: float | None = None) -> None:
    """Count one run; ``due`` (epoch seconds) is when the job was due, for lateness."""
    global _count, _first, _last, _dirty
    if INCR:
        _incr()
    if SLEEP_S:
        time.sleep(SLEEP_S)
    now = time.time()
    with _lock:
        if _pid != os.getpid():
            _start()
        _count += 1
        if _first is None:
            _first = now
        _last = now
        if due is not None:
            _lateness.append(now - due)
        _dirty = True
    if SYNC:
        _flush()


def _incr() -> None:
    global _client, _client_pid
    if _client_pid != os.getpid():  # first use, or a forked child: a connection of its own
        import redis  # only in this view: the SQLite benchmark's workers need no redis-py

        with _lock:
            if _client_pid != os.getpid():
                _client = redis.Redis.from_url(os.environ["BENCH_REDIS_URL"])
                _client_pid = os.getpid()
    _client.incr(INCR_KEY)


def _start() -> None:
    # Called under the lock, once per process (a forked child starts its own flusher).
    global _pid, _count, _first, _last, _dirty
    _pid = os.getpid()
    _count, _first, _last, _dirty = 0, None, None, False
    _lateness.clear()
    threading.Thread(target=_flush_forever, name="bench-probe", daemon=True).start()
    atexit.register(_flush)


def _flush() -> None:
    global _dirty
    directory = os.environ.get("BENCH_PROBE_DIR")
    with _lock:
        if not _dirty or directory is None or _pid != os.getpid():
            return
        state = {
            "pid": _pid,
            "count": _count,
            "first": _first,
            "last": _last,
            "lateness": list(_lateness),
        }
        _dirty = False
    path = os.path.join(directory, f"{state['pid']}.json")
    with open(path + ".tmp", "w") as out:
        json.dump(state, out)
    os.replace(path + ".tmp", path)


def _flush_forever() -> None:
    while True:
        time.sleep(FLUSH_INTERVAL_S)
        # The harness removes the directory between measurements: then there is nothing to report.
        with contextlib.suppress(OSError):
            _flush()
