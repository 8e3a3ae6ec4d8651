"""Introspection and control of the Redis backends.

Counts, pause, clear, deduplicate, dead letters and result records. A queue in partitions is
one queue here: each operation goes to every partition (one round trip where it can) and adds
up or merges what they answer.
"""

from __future__ import annotations

import heapq
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
#: Jobs one ``clear`` script removes: a few milliseconds of the server's time.
_CLEAR_BATCH = 1000


class RedisControl(RedisStore):
    """Counts, pause, clear, deduplicate, dead letters and results, for both backends."""

    def counts(self, queue: str) -> QueueCounts:
        """How many jobs of ``queue`` are ready, delayed, in flight and dead, in one look.

        At-most-once, ``in_flight`` is 0: a job handed to a worker has left the store. A queue
        in partitions counts them all, in one round trip (one look per partition); it is
        paused when every partition is, until the earliest end.
        """
        replies = self._scripts([("counts", base, []) for base in self.partitions(queue)])
        totals = [sum(int(reply[field]) for reply in replies) for field in range(4)]
        pauses = [float(reply[4]) for reply in replies if reply[4]]
        # Each list is newest first; partitions' samples merge by when their runs started.
        samples = [LatenessSample.decode(raw) for reply in replies for raw in reversed(reply[5])]
        if len(replies) > 1:
            samples.sort(key=lambda sample: sample.at)
        return QueueCounts(
            queue=queue,
            ready=totals[0],
            delayed=totals[1],
            in_flight=totals[2],
            dead=totals[3],
            paused_until=min(pauses) if len(pauses) == len(replies) else None,
            recent_lateness=tuple(samples),
        )

    def pause(self, queue: str, until: float | None) -> None:
        """Hand out nothing from ``queue`` until ``until`` (epoch seconds; ``None``: resume).

        Every worker honours it: the pause is a key that the reserve script reads, one per
        partition, all written in one round trip.
        """
        now = self.clock.time()
        self._note_queues([queue])
        commands: list[Sequence[Arg]] = []
        for base in self.partitions(queue):
            if until is None or until <= now:
                # One token: one waiter looks, and passes it on.
                wake = base + "wake"
                commands += [("DEL", base + "paused"), ("RPUSH", wake, "1"), ("LTRIM", wake, 0, 0)]
            else:
                ttl_ms = math.ceil((until - now) * 1000) + _PAUSE_GC_GRACE_MS
                commands.append(("SET", base + "paused", repr(until), "PX", ttl_ms))
        self._pipeline(*commands)

    def resume(self, queue: str) -> None:
        """Hand out jobs of ``queue`` again."""
        self.pause(queue, None)

    def paused_until(self, queue: str) -> float | None:
        """When the pause of ``queue`` ends (of every partition: the earliest), or ``None``."""
        values = self._pipeline(*(("GET", base + "paused") for base in self.partitions(queue)))
        if any(value is None for value in values):
            return None
        until = min(float(cast(bytes, value)) for value in values)
        return until if until > self.clock.time() else None

    def clear(self, queue: str, *, limit: int | None = None) -> int:
        """Delete the ready and delayed jobs of ``queue`` (jobs in flight stay); how many.

        ``limit``: at most that many. Either way the jobs go :data:`_CLEAR_BATCH` a script
        (``lua/clear.lua``), partition after partition, so that no call holds the server for
        a queue of millions.
        """
        removed = 0
        for base in self.partitions(queue):
            while limit is None or removed < limit:
                batch = _CLEAR_BATCH if limit is None else min(_CLEAR_BATCH, limit - removed)
                gone, taken = self._script("clear", base, [batch])
                removed += int(gone)
                if int(taken) < batch:  # nothing waits in this partition any more
                    break
        return removed

    def deduplicate(self, queue: str) -> tuple[int, int]:
        """Remove waiting jobs identical (task, args, kwargs) to an older one; sizes before, after.

        The oldest job (smallest id) of each group stays, whichever partitions the group is
        in. Jobs reserved meanwhile are left.
        """
        pairs: list[tuple[str, bytes]] = []
        where: dict[str, str] = {}
        for base in self.partitions(queue):
            # One look per partition: a transaction can't span slots.
            look = ("HGETALL", base + "jobs"), ("ZRANGE", base + "inflight", 0, -1)
            stored, in_flight = self._pipeline(*look, transaction=True)
            leased = set(in_flight)
            for key, data in stored.items():
                if key not in leased:
                    pairs.append((key.decode(), data))
                    where[key.decode()] = base
        pairs.sort()
        twins = duplicates(pairs)
        if not twins:
            return len(pairs), len(pairs)
        groups: dict[str, list[Arg]] = {}
        for job_id in twins:
            groups.setdefault(where[job_id], []).append(job_id)
        removed = self._scripts([("remove", base, ids) for base, ids in groups.items()])
        return len(pairs), len(pairs) - sum(int(count) for count in removed)

    # -- dead letters --------------------------------------------------------------------------

    def _letters(
        self, queue: str, base: str, ids: Sequence[bytes | str]
    ) -> list[tuple[str, DeadLetter]]:
        """The dead letters of ``ids`` kept at ``base``, with their ids, in the order of ``ids``."""
        names = [name.decode() if isinstance(name, bytes) else name for name in ids]
        if not names:
            return []
        data_key = base + "dead:data"
        stored = cast(list[Any], self._call(lambda: self.client.hmget(data_key, names)))
        return [
            (name, read_dead_letter(queue, name, data))
            for name, data in zip(names, stored, strict=True)
            if data is not None
        ]

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters of ``queue``, newest first.

        A queue in partitions merges each partition's newest by when they died (each partition
        keeps its own order, by a sequence; letters of different partitions that died in the
        same instant keep no order between them).
        """
        if limit <= 0:
            return []
        bases = self.partitions(queue)
        look = [("ZREVRANGE", base + "dead", 0, limit - 1) for base in bases]
        newest = [
            [letter for _, letter in self._letters(queue, base, ids)]
            for base, ids in zip(bases, self._pipeline(*look), strict=True)
        ]
        if len(newest) == 1:
            return newest[0]
        return list(heapq.merge(*newest, key=lambda letter: -letter.died_at))[:limit]

    def retry_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, oldest first, or those ids) back with fresh attempts.

        Letters whose payload can't be decoded stay: there is nothing to run. Each letter goes
        back to the partition it died in.
        """
        bases = self.partitions(queue)
        given = list(dict.fromkeys(job_ids or ()))
        every: list[Any] = [given] * len(bases)
        if job_ids is None:
            every = self._pipeline(*(("ZRANGE", base + "dead", 0, -1) for base in bases))
        calls: list[tuple[str, str, Sequence[Arg]]] = []
        for base, ids in zip(bases, every, strict=True):
            args: list[Arg] = []
            for letter_id, letter in self._letters(queue, base, ids):
                if letter.raw is None:
                    job = lifecycle.revived(letter.job, self.clock.time())
                    args += [letter_id, encode_job(job), str(job.priority)]
            if args:
                calls.append(("revive", base, args))
        return sum(int(count) for count in self._scripts(calls)) if calls else 0

    def purge_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Delete dead letters (all, or those ids); return how many."""
        ids = list(job_ids or ())
        if job_ids is not None and not ids:
            return 0
        purged = 0
        for base in self.partitions(queue):
            dead, data = base + "dead", base + "dead:data"
            commands: tuple[Sequence[Arg], ...] = (("ZREM", dead, *ids), ("HDEL", data, *ids))
            if job_ids is None:
                commands = ("ZCARD", dead), ("UNLINK", dead, data)
            # One transaction per partition (it can't span slots): letters go with their data.
            purged += int(self._pipeline(*commands, transaction=True)[0])
        return purged

    def _bury_undecodable(
        self, queue: str, base: str, store_id: str, payload: bytes | str, reason: str
    ) -> None:
        """Move a reserved job whose payload is not a job envelope to the dead letters."""
        now = self.clock.time()
        text = payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else payload
        stand_in = dead_letter_from_decode_error(queue, text, reason, now).job.id
        letter = raw_dead_letter_json(text, reason, now)
        limit = str(self.options.dead_letter_limit)
        self._script("bury_raw", base, [store_id, stand_in, letter, limit], now=now)
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
        placed = self.placed(self.queues())
        if not placed:
            return None
        raws = self._pipeline(*(("HGETALL", f"{base}r:{job_id}") for _, base in placed))
        now = self.clock.time()
        for (queue, _), raw in zip(placed, raws, strict=True):
            record = read_result(job_id, queue, raw, now)
            if record is not None:
                return record
        return None
