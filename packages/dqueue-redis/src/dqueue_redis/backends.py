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
import time
from collections.abc import Sequence
from typing import Any, ClassVar

from dqueue.backends import lifecycle
from dqueue.backends.base import JobStatus, Outcome, OutcomeKind
from dqueue.errors import DecodeError, DQueueError
from dqueue.failures import FailureKind
from dqueue.job import Job, encode_job

from ._control import RedisControl
from .records import dead_letter_json, failure_json, record_update, result_value
from .scripts import Arg
from .waiting import longest_wait, wait_for_token

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
#: Never spin: a token wait that came out shorter waits this long.
_MIN_WAIT_S = 0.0005
#: A worker waiting for a due time stops listening for tokens this early and sleeps the rest.
_EARLY_S = 0.002
_KINDS = {
    OutcomeKind.ACK: "a",
    OutcomeKind.RETRY: "r",
    OutcomeKind.DEAD: "d",
    OutcomeKind.RELEASE: "l",
}


class _RedisBackendBase(RedisControl):
    """The verbs both Redis backends share; the scripts take the delivery mode as an argument."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._leased: dict[str, str] = {}  # job id -> queue, of jobs reserved here (for renew)
        self._server_ahead_s: float | None = None  # the server's clock minus time.time()

    # -- producing ---------------------------------------------------------------------------

    def enqueue(self, job: Job) -> str:
        """Store ``job``; return its id, or that of the job already holding its unique key.

        Raises:
            EncodeError: the job's arguments are not JSON; nothing is stored.
        """
        payload = encode_job(job)
        if job.queue not in self._known_queues:
            self._note_queues([job.queue])
        now = self.clock.time()
        args = [repr(now), self._mode, *_enqueue_args(job, payload, now)]
        return str(self._script("enqueue", job.queue, args, replicate=True)[0].decode())

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Store jobs in order, one round trip per batch (a pipeline across queues).

        Raises:
            EncodeError: a job's arguments are not JSON; nothing is stored.
        """
        if not jobs:
            return []
        payloads = [encode_job(job) for job in jobs]
        now = self.clock.time()
        groups: dict[str, list[int]] = {}
        for index, job in enumerate(jobs):
            groups.setdefault(job.queue, []).append(index)
        self._note_queues(list(groups))
        calls: list[tuple[str, str, Sequence[Arg]]] = []
        members: list[list[int]] = []
        for queue, indexes in groups.items():
            for start in range(0, len(indexes), _ENQUEUE_CHUNK):
                chunk = indexes[start : start + _ENQUEUE_CHUNK]
                args: list[Arg] = [repr(now), self._mode]
                for index in chunk:
                    args += _enqueue_args(jobs[index], payloads[index], now)
                calls.append(("enqueue", queue, args))
                members.append(chunk)
        ids = [""] * len(jobs)
        for chunk, reply in zip(members, self._scripts(calls, replicate=True), strict=True):
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
        """
        if limit < 1:
            return []
        limit = min(limit, _RESERVE_MAX)
        keys = self.keys(queue)
        waiter = self._waiter_id()
        lease_s = self.options.lease_s
        if not self.reliable:
            # Nobody renews at-most-once jobs: the entry only guards the job's id and unique
            # key while it may still run, so it lasts long enough for any reasonable job.
            lease_s = max(lease_s, _AT_MOST_ONCE_HOLD_S)
        dead_limit = str(self.options.dead_letter_limit)
        give_up = time.monotonic() + max(timeout_s, 0.0)
        longest = longest_wait(self.options.socket_timeout_s)
        while True:
            now = self.clock.time()
            args: list[Arg] = [repr(now), limit, worker_id, repr(now + lease_s), waiter, self._mode,
                    dead_limit, _TIMER_GRACE_MS, FailureKind.LEASE_EXPIRED.value,
                    self._server_now()]  # fmt: skip
            # At-least-once, a reserve sent twice only leases jobs that come back later.
            reply = self._script("reserve", queue, args, idempotent=self.reliable)
            tag = reply[0]
            if tag == b"jobs":
                jobs = self._unpack(queue, reply)
                if jobs:
                    return jobs
                continue  # everything taken was undecodable and is now dead-lettered
            remaining = give_up - time.monotonic()
            if remaining <= 0:
                return []
            target: float | None = None
            if tag == b"paused" or (tag == b"delayed" and reply[2] == 1):
                target = float(reply[1])
            self._wait_until(keys.wake, keys.waiter(waiter), target, remaining, longest)

    def _wait_until(
        self,
        wake_key: str,
        private_key: str,
        target: float | None,
        remaining: float,
        longest: float,
    ) -> None:
        """Wait for a token, up to ``remaining`` seconds, and until ``target`` when given.

        The token wait ends a little before ``target``, and a plain sleep covers the rest:
        the last stretch costs no round trip, so the next reserve starts on time.
        """
        wait = remaining
        if target is not None:
            wait = min(wait, target - self.clock.time() - _EARLY_S)
        if wait > 0:
            seconds = min(max(wait, _MIN_WAIT_S), longest)
            if self._call(lambda: wait_for_token(self.client, wake_key, private_key, seconds)):
                return
        if target is not None:
            rest = min(target - self.clock.time(), remaining)
            if 0 < rest <= _EARLY_S + _MIN_WAIT_S:
                time.sleep(rest)

    def _unpack(self, queue: str, reply: list[Any]) -> list[Job]:
        jobs: list[Job] = []
        leased = self._leased
        poison: list[tuple[str, bytes, str]] = []
        for job_id, attempt, payload in _frames(reply[1]):
            try:
                job = lifecycle.decode_stored(payload, job_id=job_id, queue=queue)
            except DecodeError as exc:
                poison.append((job_id, payload, str(exc)))
                continue
            if job.attempt != attempt:
                # The stored payload keeps the attempt it was enqueued with.
                job = job.with_changes(attempt=attempt)
            jobs.append(job)
            leased[job_id] = queue
        for job_id, payload, reason in poison:
            try:
                self._bury_undecodable(queue, job_id, payload, reason)
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
        # One outcome Redis could not take would fail the whole call: it goes alone, as DEAD.
        outcomes = [lifecycle.storable(outcome, now) for outcome in outcomes]
        head: list[Arg] = [repr(now), worker_id, self._mode, str(self.options.dead_letter_limit)]
        # Per queue: the plain acks (3 values each), then the other outcomes (8 values each).
        groups: dict[str, tuple[list[Arg], list[Arg]]] = {}
        for outcome in outcomes:
            acks, others = groups.setdefault(outcome.job.queue, ([], []))
            job = outcome.job
            if outcome.kind is OutcomeKind.ACK and job.result_ttl is None:
                lateness = outcome.lateness_s
                acks += [job.id, str(job.attempt), "" if lateness is None else repr(lateness)]
            else:
                others += self._settle_args(outcome, now)
        calls: list[tuple[str, str, Sequence[Arg]]] = [
            ("settle", queue, [*head, len(acks) // 3, *acks, *others])
            for queue, (acks, others) in groups.items()
        ]
        replies = self._scripts(calls, replicate=True)
        for outcome in outcomes:
            self._leased.pop(outcome.job.id, None)
        return [job_id.decode() for reply in replies for job_id in reply]

    def _settle_args(self, outcome: Outcome, now: float) -> list[Arg]:
        """The 8 script arguments of one outcome; what it means comes from the lifecycle."""
        job = outcome.job
        kind = outcome.kind
        step = lifecycle.settled(outcome, now)
        data = due = ""
        finished = repr(step.finished_at)
        attempt = str(job.attempt)
        fields: list[str] = []
        if step.failure is not None:
            fields += [f"f:{job.attempt}", failure_json(step.failure)]
        if kind is OutcomeKind.ACK:
            if job.result_ttl is not None:
                fields += ["value", result_value(step.return_value, job)]
        elif kind is OutcomeKind.RETRY:
            data = encode_job(step.job)
            if step.job.run_after is not None and step.job.run_after > now:
                due = repr(step.job.run_after)
        elif kind is OutcomeKind.DEAD and step.failure is not None:
            data = dead_letter_json(job, step.failure, now)
        elif kind is OutcomeKind.RELEASE:
            # At-least-once keeps the payload while leased; at-most-once gave it to the worker.
            data = "" if self.reliable else encode_job(job)
        if kind is not OutcomeKind.RELEASE:
            fields += ["finished_at", finished]
        record = record_update(
            step.job,
            now,
            step.status,
            *fields,
            "attempt",
            str(step.job.attempt),
            due=step.job.due_at if due else now,
        )
        lateness = outcome.lateness_s
        late = "" if lateness is None else repr(lateness)
        return [_KINDS[kind], job.id, attempt, data, due, str(job.priority), late, record]

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        """Extend the leases of running jobs; return the ids whose lease was already lost."""
        if not job_ids:
            return []
        now = self.clock.time()
        until = repr(now + self.options.lease_s)
        head: list[Arg] = [repr(now), worker_id, until, self._mode, self._server_now()]
        groups: dict[str, list[Arg]] = {}
        unknown: list[str] = []
        for job_id in job_ids:
            queue = self._leased.get(job_id)
            if queue is None:
                unknown.append(job_id)
            else:
                groups.setdefault(queue, list(head)).append(job_id)
        lost: list[str] = []
        if unknown:
            # Reserved through another instance: the lease may be on any queue.
            found = set(unknown)
            queues = self.queues()
            replies = self._scripts([("renew", q, [*head, *unknown]) for q in queues])
            for reply in replies:
                found.intersection_update(job_id.decode() for job_id in reply)
            lost += [job_id for job_id in unknown if job_id in found or not queues]
        if groups:
            replies = self._scripts([("renew", queue, args) for queue, args in groups.items()])
            lost += [job_id.decode() for reply in replies for job_id in reply]
        return [job_id for job_id in job_ids if job_id in set(lost)] if self.reliable else []

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

        One script per queue, all in one round trip; safe when many workers call at once.
        """
        self.store_time()  # every so often: this machine's clock may have been stepped
        queues = self.queues()
        if not queues:
            return 0
        args = [
            repr(self.clock.time()),
            self._mode,
            str(self.options.dead_letter_limit),
            FailureKind.LEASE_EXPIRED.value,
        ]
        return sum(int(count) for count in self._scripts([("recover", q, args) for q in queues]))


def _enqueue_args(job: Job, payload: str, now: float) -> list[Arg]:
    """``id, payload, due, options``: options stay empty for a plain job (the common case)."""
    due = "" if job.run_after is None or job.run_after <= now else repr(job.run_after)
    if not (job.priority or job.attempt or job.unique_key or job.result_ttl is not None):
        return [job.id, payload, due, ""]
    unique_key = job.unique_key or ""
    unique_expiry = "" if job.unique_for is None or not unique_key else repr(now + job.unique_for)
    record = record_update(job, now, JobStatus.QUEUED, "attempt", str(job.attempt),
                           due=job.run_after or now)  # fmt: skip
    options = [job.priority, job.attempt, unique_key, unique_expiry, record]
    return [job.id, payload, due, json.dumps(options, separators=(",", ":"), ensure_ascii=False)]


def _frames(data: bytes) -> list[tuple[str, int, bytes]]:
    """Split the reserve script's reply: ``<attempt>:<id length>:<id><payload length>:<payload>``.

    Lengths are in bytes, so ids and payloads may hold any character.
    """
    frames: list[tuple[str, int, bytes]] = []
    position, end = 0, len(data)
    while position < end:
        colon = data.index(b":", position)
        attempt = int(data[position:colon])
        position = data.index(b":", colon + 1)
        id_end = position + 1 + int(data[colon + 1 : position])
        job_id = data[position + 1 : id_end].decode()
        colon = data.index(b":", id_end)
        payload_end = colon + 1 + int(data[id_end:colon])
        frames.append((job_id, attempt, data[colon + 1 : payload_end]))
        position = payload_end
    return frames


class RedisBackend(_RedisBackendBase):
    """At-most-once delivery on Redis or Valkey: the fastest path.

    A job handed to a worker is gone from Redis; if the worker dies, that job is lost, and
    only that job. Delays, priorities, retries, dead letters, unique keys, results and pauses
    work as on every dqueue backend.
    """

    supports_leases: ClassVar[bool] = False
    reliable: ClassVar[bool] = False


class ReliableRedisBackend(_RedisBackendBase):
    """At-least-once delivery on Redis or Valkey.

    A reserved job is leased to one worker id, for one attempt, until a deadline the worker
    renews. Whichever worker notices first that a lease ran out puts the job back (attempt
    counted) or, after ``max_attempts``, into the dead letters; a worker that lost a lease
    cannot settle the job.
    """

    supports_leases: ClassVar[bool] = True
    reliable: ClassVar[bool] = True
