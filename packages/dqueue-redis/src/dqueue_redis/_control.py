"""Introspection and control of the Redis backends.

Counts, pause, clear, deduplicate, dead letters and result records.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from typing import Any, cast

from dqueue.backends import lifecycle
from dqueue.backends.base import DeadLetter, JobResult, QueueCounts
from dqueue.backends.lateness import LatenessSample
from dqueue.backends.lifecycle import dead_letter_from_decode_error, duplicates
from dqueue.job import encode_job

from ._store import RedisStore
from .records import raw_dead_letter_json, read_dead_letter, read_result
from .scripts import Arg

__all__ = ["RedisControl"]

_logger = logging.getLogger("dqueue.redis")
#: A pause key outlives the pause (decided by the backend's clock) before Redis collects it.
_PAUSE_GC_GRACE_MS = 60_000


class RedisControl(RedisStore):
    """Counts, pause, clear, deduplicate, dead letters and results, for both backends."""

    def counts(self, queue: str) -> QueueCounts:
        """How many jobs of ``queue`` are ready, delayed, in flight and dead, in one look.

        At-most-once, ``in_flight`` is 0: a job handed to a worker has left the store.
        """
        ready, delayed, in_flight, dead, paused, samples = self._script("counts", queue, [])
        return QueueCounts(
            queue=queue,
            ready=int(ready),
            delayed=int(delayed),
            in_flight=int(in_flight),
            dead=int(dead),
            paused_until=float(paused) if paused else None,
            recent_lateness=tuple(LatenessSample.decode(sample) for sample in reversed(samples)),
        )

    def pause(self, queue: str, until: float | None) -> None:
        """Hand out nothing from ``queue`` until ``until`` (epoch seconds; ``None``: resume).

        Every worker honours it: the pause is a key that the reserve script reads.
        """
        now = self.clock.time()
        base = self.base(queue)
        self._note_queues([queue])
        if until is None or until <= now:
            # One token: one waiter looks, and passes it on.
            wake = base + "wake"
            self._pipeline(("DEL", base + "paused"), ("RPUSH", wake, "1"), ("LTRIM", wake, 0, 0))
            return
        ttl_ms = math.ceil((until - now) * 1000) + _PAUSE_GC_GRACE_MS
        self._call(lambda: self.client.set(base + "paused", repr(until), px=ttl_ms))

    def resume(self, queue: str) -> None:
        """Hand out jobs of ``queue`` again."""
        self.pause(queue, None)

    def paused_until(self, queue: str) -> float | None:
        """When the pause of ``queue`` ends, or ``None``."""
        value = self._call(lambda: self.client.get(self.base(queue) + "paused"))
        if value is None:
            return None
        until = float(cast(bytes, value))
        return until if until > self.clock.time() else None

    def clear(self, queue: str) -> int:
        """Delete every ready and delayed job of ``queue`` (jobs in flight stay); how many."""
        return int(self._script("remove", queue, []))

    def deduplicate(self, queue: str) -> tuple[int, int]:
        """Remove waiting jobs identical (task, args, kwargs) to an older one; sizes before, after.

        The oldest job (smallest id) of each group stays. Jobs reserved meanwhile are left.
        """
        base = self.base(queue)
        look = ("HGETALL", base + "jobs"), ("ZRANGE", base + "inflight", 0, -1)
        stored, in_flight = self._pipeline(*look, transaction=True)
        leased = set(in_flight)
        pairs = sorted((key.decode(), data) for key, data in stored.items() if key not in leased)
        twins = duplicates(pairs)
        if not twins:
            return len(pairs), len(pairs)
        return len(pairs), len(pairs) - int(self._script("remove", queue, twins))

    # -- dead letters --------------------------------------------------------------------------

    def _letters(self, queue: str, ids: Sequence[bytes | str]) -> list[tuple[str, DeadLetter]]:
        """The dead letters of ``ids`` still stored, with their ids, in the order of ``ids``."""
        names = [name.decode() if isinstance(name, bytes) else name for name in ids]
        if not names:
            return []
        data_key = self.base(queue) + "dead:data"
        stored = cast(list[Any], self._call(lambda: self.client.hmget(data_key, names)))
        return [
            (name, read_dead_letter(queue, name, data))
            for name, data in zip(names, stored, strict=True)
            if data is not None
        ]

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters of ``queue``, newest first."""
        if limit <= 0:
            return []
        dead_key = self.base(queue) + "dead"
        ids = self._call(lambda: self.client.zrevrange(dead_key, 0, limit - 1))
        return [letter for _, letter in self._letters(queue, cast(list[bytes], ids))]

    def retry_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, oldest first, or those ids) back with fresh attempts.

        Letters whose payload can't be decoded stay: there is nothing to run.
        """
        ids: Sequence[bytes | str] = list(dict.fromkeys(job_ids or ()))
        if job_ids is None:
            dead_key = self.base(queue) + "dead"
            ids = cast(list[bytes], self._call(lambda: self.client.zrange(dead_key, 0, -1)))
        args: list[str] = []
        for letter_id, letter in self._letters(queue, ids):
            if letter.raw is None:
                job = lifecycle.revived(letter.job, self.clock.time())
                args += [letter_id, encode_job(job), str(job.priority)]
        return int(self._script("revive", queue, args)) if args else 0

    def purge_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Delete dead letters (all, or those ids); return how many."""
        ids = list(job_ids or ())
        if job_ids is not None and not ids:
            return 0
        dead, data = self.base(queue) + "dead", self.base(queue) + "dead:data"
        commands: tuple[Sequence[Arg], ...] = (("ZREM", dead, *ids), ("HDEL", data, *ids))
        if job_ids is None:
            commands = ("ZCARD", dead), ("UNLINK", dead, data)
        # One transaction: letters go with their data.
        return int(self._pipeline(*commands, transaction=True)[0])

    def _bury_undecodable(
        self, queue: str, store_id: str, payload: bytes | str, reason: str
    ) -> None:
        """Move a reserved job whose payload is not a job envelope to the dead letters."""
        now = self.clock.time()
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
        stand_in = dead_letter_from_decode_error(queue, text, reason, now).job.id
        letter = raw_dead_letter_json(text, reason, now)
        limit = str(self.options.dead_letter_limit)
        self._script("bury_raw", queue, [store_id, stand_in, letter, limit], now=now)
        _logger.warning(
            "job %s of queue %r is not a job envelope (%s); moved to the dead letters as %s",
            store_id,
            queue,
            reason,
            stand_in,
        )

    # -- results -------------------------------------------------------------------------------

    def result(self, job_id: str) -> JobResult | None:
        """The record of ``job_id`` (kept when the job set ``result_ttl``), or ``None``."""
        queues = self.queues()
        if not queues:
            return None
        raws = self._pipeline(*(("HGETALL", f"{self.base(queue)}r:{job_id}") for queue in queues))
        now = self.clock.time()
        for queue, raw in zip(queues, raws, strict=True):
            record = read_result(job_id, queue, raw, now)
            if record is not None:
                return record
        return None
