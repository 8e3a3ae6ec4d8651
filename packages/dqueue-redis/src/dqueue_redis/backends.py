"""The two Redis backends: producing, reserving (with precise delays) and settling.

:class:`RedisBackend` is at-most-once: a reserved job leaves the store with its worker, and a
crash loses that job only. :class:`ReliableRedisBackend` is at-least-once: a reserved job stays
stored, leased to one worker id for one attempt until a deadline the worker renews; a job whose
lease runs out goes back to its queue (attempt counted) or, after its last attempt, to the dead
letters. See the package README for the key layout and the delay design.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from redis.cluster import RedisCluster

from dqueue.backends import lifecycle
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.lateness import sample_text
from dqueue.errors import DecodeError, DQueueError
from dqueue.failures import FailureKind
from dqueue.job import Job, encode_job

from ._inspection import RedisInspection
from ._workers import RedisWorkers
from .records import dead_letter_json, record_update
from .scripts import Arg
from .waiting import wait_until

__all__ = ["RedisBackend", "ReliableRedisBackend"]

_logger = logging.getLogger("dqueue.redis")

#: Jobs per enqueue script call: bounds how long one call holds the server.
_ENQUEUE_CHUNK = 1000
#: How long at-most-once keeps a handed-out job's id and unique key taken (or the lease).
_AT_MOST_ONCE_HOLD_S = 3600.0
#: Most jobs one reserve hands out.
_RESERVE_MAX = 1000
#: How long the delay timer stays with a waiter past the due time before anyone may take it.
_TIMER_GRACE_MS = 1000
#: The failure type of an expired lease, which the scripts record.
_LEASE_EXPIRED = FailureKind.LEASE_EXPIRED.value


class _RedisBackendBase(RedisInspection, RedisWorkers):
    """The verbs both Redis backends share; the scripts take the delivery mode as an argument."""

    # -- producing ---------------------------------------------------------------------------

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Store jobs in order, one round trip per batch (a pipeline across queues).

        A job of a queue in partitions goes to the partition :meth:`base_of` names.

        Raises:
            EncodeError: a job's arguments are not JSON; nothing is stored.
            InvalidTask: a job's ``meta["partition_key"]`` is not a string; nothing is stored.
        """
        if not jobs:
            return []
        payloads = [encode_job(job) for job in jobs]
        now = self.clock.time()
        groups: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            groups.setdefault(self.base_of(job), []).append(index)
        self._note_queues(list(dict.fromkeys(job.queue for job in jobs)))
        calls: list[tuple[str, str, Sequence[Arg]]] = []
        members: list[list[int]] = []
        for base, indexes in groups.items():
            for start in range(0, len(indexes), _ENQUEUE_CHUNK):
                chunk = indexes[start : start + _ENQUEUE_CHUNK]
                args: list[Arg] = []
                for index in chunk:
                    args += _enqueue_args(jobs[index], payloads[index], now)
                calls.append(("enqueue", base, args))
                members.append(chunk)
        ids = [""] * len(jobs)
        replies = self._scripts(calls, now=now, replicate=True)
        for chunk, reply in zip(members, replies, strict=True):
            for index, job_id in zip(chunk, reply, strict=True):
                ids[index] = job_id.decode()
        return ids

    # -- consuming ---------------------------------------------------------------------------

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        """Take up to ``limit`` due jobs of ``queue``, waiting up to ``timeout_s`` for one.

        Promotion of due delayed jobs, recovery of expired leases and the hand-out happen in
        one script, one round trip. With nothing due, the call waits for a wake-up token, and
        no longer than until the earliest delayed job is due when it holds the queue's delay
        timer (one waiter per queue does).

        A queue in partitions is looked at one partition after another, each call starting
        one partition further, so that none starves, until ``limit`` jobs are taken.
        With none due anywhere, the call waits for a token of any partition; on a cluster,
        which can't wait on keys of several slots at once, for one partition's, looking at all
        again after the poll interval (``DQUEUE_POLL_INTERVAL``) at most.
        """
        if limit < 1:
            return []
        limit = min(limit, _RESERVE_MAX)
        bases = self.partitions(queue)
        waiter = self._waiter()
        give_up = time.monotonic() + max(timeout_s, 0.0)
        while True:
            first = self._turns.get(queue, 0)
            self._turns[queue] = first + 1
            targets: list[float] = []
            taken: list[Job] = []
            undecodable = False
            for offset in range(len(bases)):
                base = bases[(first + offset) % len(bases)]
                now = self.clock.time()
                args = self._reserve_args(limit - len(taken), worker_id, waiter, now)
                # At-least-once, a reserve sent twice only leases jobs that come back later.
                idempotent = self.supports_leases
                try:
                    reply = self._script("reserve", base, args, now=now, idempotent=idempotent)
                except DQueueError:
                    if taken:  # they are this worker's now; the next reserve meets the error
                        return taken
                    raise
                tag = reply[0]
                if tag == b"jobs":
                    jobs = self._unpack(queue, base, reply)
                    taken += jobs
                    if len(taken) == limit:
                        return taken
                    # All undecodable (now dead-lettered): look again before waiting.
                    undecodable |= not jobs
                elif tag == b"paused" or (tag == b"delayed" and reply[2] == 1):
                    targets.append(float(reply[1]))
            if taken:
                return taken
            if undecodable:
                continue
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                return []
            base = bases[first % len(bases)]
            wake_keys = [each + "wake" for each in bases]
            if len(bases) > 1 and isinstance(self.client, RedisCluster):
                remaining = min(remaining, self.options.poll_interval_s)
                wake_keys = [base + "wake"]
            target = min(targets, default=None)
            private_key = f"{base}w:{waiter}"
            wait_until(
                self._call, self.client, wake_keys, private_key, self.clock, target, remaining
            )

    def _waiter(self) -> str:
        """Names a waiting reserve call: this process (after a fork, too) and thread."""
        return f"{os.getpid()}:{threading.get_ident()}:{self._instance}"

    def _reserve_args(self, limit: int, worker_id: str, waiter: str, now: float) -> list[Arg]:
        """The reserve script's arguments after the common ones (see ``lua/reserve.lua``)."""
        options = self.options
        lease_s = options.lease_s
        if not self.supports_leases:
            # Nobody renews at-most-once jobs: the entry only guards the job's id and unique
            # key while it may still run, so it lasts long enough for any reasonable job.
            lease_s = max(lease_s, _AT_MOST_ONCE_HOLD_S)
        lease: list[Arg] = [limit, worker_id, repr(now + lease_s), waiter]
        retention = repr(options.id_retention_s)
        tail: list[Arg] = [options.dead_letter_limit, _TIMER_GRACE_MS, _LEASE_EXPIRED, retention]
        return [*lease, *tail, self._server_now()]

    def _unpack(self, queue: str, base: str, reply: list[Any]) -> list[Job]:
        jobs: list[Job] = []
        poison: list[tuple[str, bytes, str]] = []
        for index in range(1, len(reply), 3):
            job_id, attempt, payload = reply[index].decode(), reply[index + 1], reply[index + 2]
            try:
                # The stored payload keeps the attempt it was enqueued with.
                job = lifecycle.decode_stored(payload, job_id=job_id, queue=queue, attempt=attempt)
            except DecodeError as exc:
                poison.append((job_id, payload, str(exc)))
                continue
            jobs.append(job)
            self._leased[job_id] = base
        for job_id, payload, reason in poison:
            try:
                self._bury_undecodable(queue, base, job_id, payload, reason)
            except DQueueError as exc:
                # The good jobs are this worker's now (at-most-once, only here): hand them out.
                # At-least-once, the poison comes back when its lease runs out and is buried
                # then; at-most-once it is gone, as any job whose worker died.
                _logger.warning("could not dead-letter job %s of %r: %s", job_id, queue, exc)
        return jobs

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        """Apply outcomes in one round trip; return the ids whose lease was lost."""
        if not outcomes:
            return []
        now = self.clock.time()
        calls = self._settle_calls(outcomes, worker_id, now)
        return self._settled(outcomes, self._scripts(calls, now=now, replicate=True))

    def settle_and_reserve(
        self, outcomes: Sequence[Outcome], queue: str, *, worker_id: str, limit: int
    ) -> tuple[list[str], list[Job]]:
        """:meth:`settle`, then reserve up to ``limit`` due jobs without waiting: one round trip.

        Where one round trip can't carry both (a cluster, a queue in partitions, writes that
        wait for replicas), two calls do, as the worker would have made them. Returns the ids
        whose lease was lost and the jobs reserved (none when nothing is due: the caller's
        next :meth:`reserve` waits).
        """
        bases = self.partitions(queue)
        if len(bases) > 1 or limit < 1 or not self._runs_in_order:
            lost = self.settle(outcomes, worker_id=worker_id)
            return lost, self.reserve(queue, worker_id=worker_id, timeout_s=0.0, limit=limit)
        now = self.clock.time()
        calls = self._settle_calls(outcomes, worker_id, now) if outcomes else []
        reserve_args = self._reserve_args(min(limit, _RESERVE_MAX), worker_id, self._waiter(), now)
        calls.append(("reserve", bases[0], reserve_args))
        replies = self._scripts_in_order(calls, now=now, idempotent=self.supports_leases)
        reply = replies.pop()
        lost = self._settled(outcomes, replies)
        jobs = self._unpack(queue, bases[0], reply) if reply[0] == b"jobs" else []
        return lost, jobs

    def _settle_calls(
        self, outcomes: Sequence[Outcome], worker_id: str, now: float
    ) -> list[tuple[str, str, Sequence[Arg]]]:
        """The settle script calls for ``outcomes``, one per partition they are in."""
        # One outcome Redis could not take would fail the whole call: it goes alone, as DEAD.
        outcomes = [lifecycle.storable(outcome, now) for outcome in outcomes]
        options = self.options
        head: list[Arg] = [worker_id, options.dead_letter_limit, repr(options.id_retention_s)]
        # Per partition: the plain acks (3 values each), then the other outcomes (8 each).
        groups: dict[str, tuple[list[Arg], list[Arg]]] = {}
        for outcome in outcomes:
            acks, others = groups.setdefault(self.base_of(outcome.job), ([], []))
            job = outcome.job
            if outcome.kind is OutcomeKind.ACK and job.result_ttl is None:
                # The sample's text from its two numbers: no LatenessSample for every ack.
                started, late = outcome.started_at, outcome.lateness_s
                text = "" if started is None or late is None else sample_text(late, started)
                acks += [job.id, str(job.attempt), text]
            else:
                others += self._settle_args(outcome, now)
        return [
            ("settle", base, [*head, len(acks) // 3, *acks, *others])
            for base, (acks, others) in groups.items()
        ]

    def _settled(self, outcomes: Sequence[Outcome], replies: Sequence[Any]) -> list[str]:
        """Forget the settled jobs' partitions; the ids whose lease was lost, from the replies."""
        for outcome in outcomes:
            self._leased.pop(outcome.job.id, None)
        return [job_id.decode() for reply in replies for job_id in reply]

    def _settle_args(self, outcome: Outcome, now: float) -> list[Arg]:
        """The 8 script arguments of one outcome; what it means comes from the lifecycle."""
        job, kind = outcome.job, outcome.kind
        step = lifecycle.settled(outcome, now)
        data = due = ""
        if kind is OutcomeKind.RETRY:
            data = encode_job(step.job)
            if step.job.run_after is not None and step.job.run_after > now:
                due = repr(step.job.run_after)
        elif kind is OutcomeKind.DEAD and step.failure is not None:
            data = dead_letter_json(job, step.failure, now)
        elif kind is OutcomeKind.RELEASE and not self.supports_leases:
            # At-least-once keeps the payload while leased; at-most-once gave it to the worker.
            data = encode_job(job)
        record = record_update(step, now, step.job.due_at if due else now)
        late = "" if (sample := outcome.lateness_sample) is None else sample.encode()
        return [kind.value, job.id, str(job.attempt), data, due, str(job.priority), late, record]

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        """Extend the leases of running jobs; return the ids whose lease was already lost.

        A job reserved here is renewed on its queue (its partition), in one round trip: a renewal
        sent just before a stall is then the first thing the server applies after it. Any other
        job (reserved through another instance) is looked for on every queue and partition, a
        round trip more.
        """
        if not job_ids:
            return []
        now = self.clock.time()
        head: list[Arg] = [worker_id, repr(now + self.options.lease_s), self._server_now()]
        groups: dict[str, list[Arg]] = {}
        unknown: list[str] = []
        for job_id in job_ids:
            base = self._leased.get(job_id)
            if base is None:
                unknown.append(job_id)
            else:
                groups.setdefault(base, list(head)).append(job_id)
        calls: list[tuple[str, str, Sequence[Arg]]] = [("renew", b, a) for b, a in groups.items()]
        if unknown:
            calls += [("renew", base, [*head, *unknown]) for _, base in self.placed(self.queues())]
        replies = self._scripts(calls, now=now) if calls else []
        lost = {job_id.decode() for reply in replies[: len(groups)] for job_id in reply}
        missing = set(unknown)  # lost only when no queue holds its lease
        for reply in replies[len(groups) :]:
            missing.intersection_update(job_id.decode() for job_id in reply)
        lost |= missing
        return [job_id for job_id in job_ids if job_id in lost] if self.supports_leases else []

    def store_time(self) -> float:
        """The server's clock (``TIME``); also measures again how far it is from this machine's."""
        seconds, micros = self._call(self.client.time)
        server_now = seconds + micros / 1_000_000
        # Read after the reply: the offset comes out low by the reply's way back at most, so a
        # script never counts itself less late than it is.
        self._server_ahead_s = server_now - time.time()
        return server_now

    def _server_now(self) -> str:
        """The server's clock now, by this machine's and the last measured offset.

        Scripts that set a lease deadline add how much later than this they run (``late_by``
        in ``lua/common.lua``): a lease then counts from when the server applies it, not from
        when it was sent, whatever clock the backend was given.
        """
        ahead = self._server_ahead_s
        if ahead is None:
            ahead = self.store_time() - time.time()
        return repr(time.time() + ahead)

    def recover(self) -> int:
        """Deal with expired leases on every queue; return how many jobs went back or died.

        One script per queue (per partition), all in one round trip; safe when many workers
        call at once.
        """
        self.store_time()  # every so often: this machine's clock may have been stepped
        queues = self.queues()
        if not queues:
            return 0
        retention = repr(self.options.id_retention_s)
        args: list[Arg] = [self.options.dead_letter_limit, _LEASE_EXPIRED, retention]
        calls = [("recover", base, args) for _, base in self.placed(queues)]
        return sum(int(count) for count in self._scripts(calls))


def _enqueue_args(job: Job, payload: str, now: float) -> list[Arg]:
    """``id, payload, due, options``: options stay empty for a plain job (the common case)."""
    due = "" if job.run_after is None or job.run_after <= now else repr(job.run_after)
    if not (job.priority or job.attempt or job.unique_key or job.result_ttl is not None):
        return [job.id, payload, due, ""]
    unique_key = job.unique_key or ""
    unique_expiry = "" if job.unique_for is None or not unique_key else repr(now + job.unique_for)
    record = record_update(lifecycle.enqueued(job), now, job.run_after or now)
    options = [job.priority, job.attempt, unique_key, unique_expiry, record]
    return [job.id, payload, due, json.dumps(options, separators=(",", ":"), ensure_ascii=False)]


class RedisBackend(_RedisBackendBase):
    """At-most-once delivery on Redis or Valkey: the fastest path.

    A job handed to a worker is gone from Redis; if the worker dies, that job is lost, and
    only that job. Delays, priorities, retries, dead letters, unique keys, results and pauses
    work as on every dqueue backend.
    """

    supports_leases: ClassVar[bool] = False


class ReliableRedisBackend(_RedisBackendBase):
    """At-least-once delivery on Redis or Valkey.

    A reserved job is leased to one worker id, for one attempt, until a deadline the worker
    renews. Whichever worker notices first that a lease ran out puts the job back (attempt
    counted) or, after ``max_attempts``, into the dead letters; a worker that lost a lease
    cannot settle the job.
    """

    supports_leases: ClassVar[bool] = True
