"""Hostile payloads, and a way to write each one straight into a store, as a bug or an attacker
with access to the store would: no dqueue encoding, no checks.

``POISON`` maps a kind to a function of the id and queue the payload is stored under that
returns the raw bytes. ``inject(backend, queue, job_id, payload)`` writes them where the store
keeps a ready job (memory internals, a SQLite ``INSERT``, Redis ``HSET`` + ``RPUSH`` on the
store's real keys), behind the jobs already waiting.
"""

from __future__ import annotations

import heapq
import json
import sqlite3
from collections.abc import Callable
from typing import Any

from dqueue.backends.base import Backend
from dqueue.backends.memory import MemoryBackend
from dqueue.backends.sqlite import SQLiteBackend
from dqueue.backends.sqlite_schema import READY
from dqueue.job import MAX_NESTING, MAX_PAYLOAD_BYTES

__all__ = [
    "POISON",
    "REASONS",
    "SECRET",
    "inject",
    "inject_redis",
    "inject_sqlite",
    "poison_payload",
]

#: A value every hostile payload carries somewhere: no message may ever show it.
SECRET = "SECRET-4242"

Payload = Callable[[str, str], bytes]
#: Copies of SECRET that make an envelope bigger than MAX_PAYLOAD_BYTES.
_OVER_THE_LIMIT = MAX_PAYLOAD_BYTES // len(SECRET) + 1


def _envelope(job_id: str, queue: str, **fields: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "v": 1,
        "id": job_id,
        "task": "tests.poisoned",
        "queue": queue,
        "args": [SECRET],
        "kwargs": {},
    }
    data.update(fields)
    return data


def _json(job_id: str, queue: str, **fields: Any) -> bytes:
    return json.dumps(_envelope(job_id, queue, **fields)).encode()


def _number(field: str, literal: str) -> Payload:
    """An envelope whose ``field`` is the bare JSON-ish ``literal`` (NaN, Infinity, 1e999)."""

    def build(job_id: str, queue: str) -> bytes:
        text = json.dumps(_envelope(job_id, queue, **{field: "@@"}))
        return text.replace('"@@"', literal).encode()

    return build


def _deep(job_id: str, queue: str) -> bytes:
    depth = 100_000
    text = json.dumps(_envelope(job_id, queue, args="@@"))
    return text.replace('"@@"', "[" * depth + json.dumps(SECRET) + "]" * depth).encode()


def _just_too_deep(job_id: str, queue: str) -> bytes:
    value: Any = SECRET
    for _ in range(MAX_NESTING + 1):
        value = [value]
    return _json(job_id, queue, args=[value])


#: Every kind of poison, by name. ``this.x`` is a valid envelope (a store hands it out); the
#: worker refuses it, as a task it does not know.
POISON: dict[str, Payload] = {
    "not-json": lambda job_id, queue: _json(job_id, queue)[:-20],
    "not-utf8": lambda job_id, queue: b"{\xff\xfe" + _json(job_id, queue)[1:],
    "nan-attempt": _number("attempt", "NaN"),
    "infinity-attempt": _number("attempt", "Infinity"),
    "infinity-max-attempts": _number("max_attempts", "Infinity"),
    "infinity-priority": _number("priority", "-Infinity"),
    "huge-number": _number("max_attempts", "1e999"),
    "deep-nesting": _deep,
    "nested-past-the-limit": _just_too_deep,
    "oversize": lambda job_id, queue: _json(job_id, queue, args=[SECRET * _OVER_THE_LIMIT]),
    "id-mismatch": lambda job_id, queue: _json(f"{job_id}-other", queue),
    "queue-mismatch": lambda job_id, queue: _json(job_id, f"{queue}-other"),
    "task-with-newline": lambda job_id, queue: _json(job_id, queue, task="a\nb"),
    "task-with-slash": lambda job_id, queue: _json(job_id, queue, task="../etc/passwd"),
    "not-an-object": lambda job_id, queue: json.dumps([SECRET]).encode(),
    # A terminal escape and a forged line: a listing must show them escaped.
    "control-characters": lambda job_id, queue: b"\x1b[2J\r\nERROR forged " + SECRET.encode(),
}

#: The field (or problem) the reason of each kind must name (one of them).
REASONS: dict[str, str | tuple[str, ...]] = {
    "not-json": "not JSON",
    # Memory keeps text: there, bytes that are not UTF-8 read as text that is not JSON.
    "not-utf8": ("not UTF-8", "not JSON"),
    "nan-attempt": "attempt",
    "infinity-attempt": "attempt",
    "infinity-max-attempts": "max_attempts",
    "infinity-priority": "priority",
    "huge-number": "max_attempts",
    "deep-nesting": "nested",
    "nested-past-the-limit": "nested",
    "oversize": "limit",
    "id-mismatch": "id",
    "queue-mismatch": "queue",
    "task-with-newline": "task",
    "task-with-slash": "task",
    "not-an-object": "not a JSON object",
    "control-characters": "not JSON",
}


def poison_payload(kind: str, job_id: str, queue: str) -> bytes:
    """The raw bytes of poison ``kind`` stored under ``job_id`` in ``queue``."""
    return POISON[kind](job_id, queue)


def inject(backend: Backend, queue: str, job_id: str, payload: bytes) -> None:
    """Write ``payload`` as a ready job ``job_id`` of ``queue``, bypassing every check."""
    if isinstance(backend, MemoryBackend):
        _inject_memory(backend, queue, job_id, payload)
    elif isinstance(backend, SQLiteBackend):
        inject_sqlite(backend.path, queue, job_id, payload)
    else:
        inject_redis(backend.client, backend.prefix, queue, job_id, payload)


def _inject_memory(backend: MemoryBackend, queue: str, job_id: str, payload: bytes) -> None:
    # Memory keeps text: bytes that are not UTF-8 arrive as the surrogates a reader would make.
    text = payload.decode("utf-8", errors="surrogateescape")
    with backend._lock:
        state = backend._queue(queue)
        state.waiting[job_id] = text
        entry = (0, backend.clock.time(), next(backend._sequence), job_id)
        heapq.heappush(state.ready, entry)
        backend._lock.notify_all()


def inject_sqlite(path: str, queue: str, job_id: str, payload: bytes) -> None:
    """``INSERT`` a ready row holding ``payload`` (as a BLOB, as a foreign writer might)."""
    conn = sqlite3.connect(path, timeout=30)
    try:
        with conn:
            conn.execute("INSERT OR IGNORE INTO queues (name) VALUES (?)", (queue,))
            conn.execute(
                "INSERT INTO jobs (id, queue, state, priority, due_at, attempt, payload)"
                " VALUES (?, ?, ?, 0, 0, 0, ?)",
                (job_id, queue, READY, payload),
            )
    finally:
        conn.close()


def inject_redis(client: Any, prefix: str, queue: str, job_id: str, payload: bytes) -> None:
    """``HSET`` the payload into the queue's jobs hash and ``RPUSH`` its id on the ready list."""
    from dqueue_redis._store import queue_base

    base = queue_base(prefix, queue)
    client.sadd(f"{prefix}:queues", queue)  # on a cluster, not in the queue's slot
    with client.pipeline(transaction=True) as pipeline:
        pipeline.hset(base + "jobs", job_id, payload)
        pipeline.rpush(base + "ready", job_id)
        pipeline.rpush(base + "wake", "1")
        pipeline.execute()
