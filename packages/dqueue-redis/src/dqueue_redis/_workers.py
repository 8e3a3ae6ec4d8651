"""Live workers of the Redis backends: heartbeats that expire by themselves.

Each beat is a hash per worker, ``<base>worker:<id>``, that expires with the beat's ttl, and a
member of its queue's sorted set ``<base>workers`` scored by when it expires: both in the
queue's hash slot, written by one script (``lua/worker_beat.lua``). Listing a queue is one
script too (``lua/worker_list.lua``): the members still alive, then each one's hash, trimming
those that ran out as it goes. Every time comes from the server's clock (``TIME``), so a worker
whose clock is off is neither dropped early nor kept late.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any

from dqueue.backends.workers import WorkerBeat, ordered

from ._store import RedisStore
from .scripts import Arg

__all__ = ["RedisWorkers"]

_logger = logging.getLogger("dqueue.redis")
#: The longest ttl a beat may ask for (beats come every few seconds): checked before the
#: script runs, since Redis would refuse an absurd expiry only after writing the rest.
_TTL_MAX_S = 366 * 86400.0


def _text(value: str) -> bytes:
    """``value`` as stored: UTF-8, lone surrogates included (a host name may carry them)."""
    return value.encode("utf-8", "surrogatepass")


def _decode(raw: bytes) -> str:
    """What :func:`_text` stored (``ValueError`` when it is not)."""
    return raw.decode("utf-8", "surrogatepass")


#: How each field of a stored beat reads back (``beat_at`` is the script's, ``queue`` the key's).
#: A listing asks for these fields in this order; the first must be in every beat.
_READERS: dict[str, Callable[[bytes], Any]] = {
    "beat_at": float,
    "name": _decode,
    "host": _decode,
    "pid": int,
    "started_at": float,
    "job_id": _decode,
    "job_task": _decode,
    "job_started_at": float,
    "processed": int,
    "failed": int,
}
_FIELDS: tuple[Arg, ...] = tuple(_READERS)
#: What a listing needs in every hash (the other fields have defaults).
_REQUIRED = frozenset({"beat_at", "name", "host", "pid", "started_at"})


class RedisWorkers(RedisStore):
    """:class:`~dqueue.backends.workers.WorkerRegistry` of both Redis backends."""

    def beat(self, beat: WorkerBeat, *, ttl_s: float) -> None:
        """Record ``beat``; the worker counts as alive for ``ttl_s`` seconds from now.

        One round trip (two on the first beat of a queue through this backend, which adds the
        queue to the known queues). A worker that beat on another queue through this backend
        is dropped from that one in the same round trip.

        Raises:
            ValueError: ``ttl_s`` is not above 0, or over a year.
        """
        if not 0 < ttl_s <= _TTL_MAX_S:
            raise ValueError(f"ttl_s must be above 0 and at most {_TTL_MAX_S:.0f} seconds")
        worker_id = _text(beat.worker_id)
        self._note_queues([beat.queue])
        args: list[Arg] = [worker_id, max(1, math.ceil(ttl_s * 1000)), *_fields(beat)]
        base = self.base(beat.queue)  # a queue's own slot, even when its jobs are in partitions
        calls: list[tuple[str, str, Sequence[Arg]]] = [("worker_beat", base, args)]
        before = self._beat_queues.get(beat.worker_id)
        if before is not None and before != beat.queue:
            calls.append(("worker_forget", self.base(before), [worker_id]))
        self._scripts(calls)
        self._beat_queues[beat.worker_id] = beat.queue

    def forget(self, worker_id: str) -> None:
        """Drop the worker ``worker_id`` from the living now, on every known queue.

        Two round trips: the queue names, then one small script per queue.
        """
        self._beat_queues.pop(worker_id, None)
        queues = self.queues()
        if queues:
            calls = [("worker_forget", self.base(queue), [_text(worker_id)]) for queue in queues]
            self._scripts(calls)

    def workers(self, queues: Sequence[str] | None = None) -> list[WorkerBeat]:
        """The living workers of ``queues`` (``None``: every known queue), sorted.

        One script per queue, all in one round trip (after one that reads the queue names when
        ``queues`` is ``None``). A hash that is not a beat is skipped, and logged.
        """
        names = self.queues() if queues is None else list(dict.fromkeys(queues))
        if not names:
            return []
        replies = self._scripts([("worker_list", self.base(queue), _FIELDS) for queue in names])
        living: dict[str, WorkerBeat] = {}
        for queue, reply in zip(names, replies, strict=True):
            for index in range(0, len(reply), 2):
                try:
                    beat = _read_beat(queue, reply[index], reply[index + 1])
                except _NotABeat as exc:
                    _logger.warning("skipped a heartbeat of queue %r: %s", queue, exc)
                    continue
                # A worker that moved queues through another backend is listed once, where it
                # beat last, until its beat on the other queue runs out.
                known = living.get(beat.worker_id)
                if known is None or beat.beat_at > known.beat_at:
                    living[beat.worker_id] = beat
        return ordered(living.values())


def _fields(beat: WorkerBeat) -> list[Arg]:
    """The hash of ``beat`` as field, value, ...: what is ``None`` is left out."""
    out: list[Arg] = []
    for field in _READERS:
        value = getattr(beat, field) if field != "beat_at" else None
        if isinstance(value, str):
            out += [field, _text(value)]
        elif isinstance(value, float):
            out += [field, repr(value)]
        elif value is not None:
            out += [field, str(value)]
    return out


class _NotABeat(Exception):
    """A stored hash that is not a beat; the message names the field, never its value."""


def _read_beat(queue: str, worker_id: bytes, stored: list[bytes | None] | bytes) -> WorkerBeat:
    """The beat of ``worker_id`` that a listing of ``queue`` replied.

    Raises:
        _NotABeat: the key is not a hash, or a field is missing or unreadable.
    """
    if not isinstance(stored, list):
        raise _NotABeat("the key is not a hash")
    values: dict[str, Any] = {"queue": queue}
    for field, read, raw in [
        ("worker_id", _decode, worker_id),
        *zip(_READERS, _READERS.values(), stored, strict=True),
    ]:
        if raw is None:
            if field in _REQUIRED:
                raise _NotABeat(f"it has no {field}")
            continue
        try:
            values[field] = read(raw)
        except ValueError:  # UnicodeDecodeError is one; its message would quote the value
            raise _NotABeat(f"its {field} does not read as one") from None
    return WorkerBeat(**values)
