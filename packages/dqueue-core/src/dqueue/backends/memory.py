"""``MemoryBackend``: in-process, thread-safe, with delays, leases and dead letters.

For tests and for embedding a queue in one process (workers as threads). Jobs are stored as
their JSON envelopes, exactly as a real store would, so a test against it catches what a real
store would refuse. Nothing survives the process.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections.abc import Sequence
from typing import ClassVar

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import DecodeError
from ..job import Job, decode_job, encode_job
from . import lifecycle
from .base import Backend, DeadLetter, JobResult, Outcome, QueueCounts, StoreOptions
from .lifecycle import Step, dead_letter_from_decode_error, decode_stored
from .memory_inspection import MemoryInspection
from .memory_state import Lease, QueueState
from .memory_workers import MemoryWorkers

__all__ = ["MemoryBackend"]


class MemoryBackend(MemoryInspection, MemoryWorkers, Backend):
    """Jobs in this process's memory, at-least-once within it."""

    supports_priority: ClassVar[bool] = True
    supports_results: ClassVar[bool] = True
    supports_leases: ClassVar[bool] = True
    supports_workers: ClassVar[bool] = False  # other processes can't see this memory

    def __init__(self, options: StoreOptions | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(options, clock=clock)
        self._lock = threading.Condition()
        self._queues: dict[str, QueueState] = {}
        self._sequence = itertools.count()
        self._unique: dict[str, tuple[str, float | None]] = {}  # key -> (job id, expires)
        self._results: dict[str, tuple[JobResult, float]] = {}
        #: Ids of finished jobs -> when they are forgotten, oldest first (the retention is fixed).
        self._finished: dict[str, float] = {}

    # -- helpers (call with the lock held) ----------------------------------------------------

    def _queue(self, name: str) -> QueueState:
        queue = self._queues.get(name)
        if queue is None:
            queue = self._queues[name] = QueueState()
        return queue

    def _push(self, queue: QueueState, job: Job, payload: str, now: float) -> None:
        queue.waiting[job.id] = payload
        seq = next(self._sequence)
        if job.run_after is not None and job.run_after > now:
            heapq.heappush(queue.delayed, (job.run_after, seq, job.id))
        else:
            heapq.heappush(queue.ready, (-job.priority, job.due_at, seq, job.id))

    def _promote(self, queue: QueueState, now: float) -> None:
        while queue.delayed and queue.delayed[0][0] <= now:
            due, seq, job_id = heapq.heappop(queue.delayed)
            if job_id in queue.waiting:
                try:
                    priority = decode_job(queue.waiting[job_id]).priority
                except DecodeError:
                    priority = 0  # reserve dead-letters it
                heapq.heappush(queue.ready, (-priority, due, seq, job_id))

    def _unique_holder(self, key: str, now: float) -> str | None:
        held = self._unique.get(key)
        if held is None:
            return None
        job_id, expires = held
        if expires is not None and expires <= now:
            del self._unique[key]
            return None
        return job_id

    def _release_unique(self, job: Job) -> None:
        # A key with ``unique_for`` stays taken until it expires, even once the job is done.
        if job.unique_key is not None and self._unique.get(job.unique_key) == (job.id, None):
            del self._unique[job.unique_key]

    def _release_unique_held_by(self, job_ids: set[str]) -> None:
        """Free the keys these jobs hold until settled, without decoding their payloads."""
        held = [key for key, (holder, until) in self._unique.items() if holder in job_ids]
        for key in held:
            if self._unique[key][1] is None:  # one with ``unique_for`` stays until it expires
                del self._unique[key]

    def _remember_finished(self, job_id: str, now: float) -> None:
        """Keep a finished job's id for the retention; forget expired ones, oldest first."""
        if self.options.id_retention_s <= 0:
            return
        while self._finished and next(iter(self._finished.values())) <= now:
            del self._finished[next(iter(self._finished))]
        self._finished.pop(job_id, None)  # a revived dead letter finished again: now newest
        self._finished[job_id] = now + self.options.id_retention_s

    def _record(self, step: Step, now: float) -> None:
        job = step.job
        if job.result_ttl is None:
            return
        previous = self._results.get(job.id)
        record = lifecycle.next_record(previous[0] if previous else None, step)
        self._results[job.id] = (record, now + job.result_ttl)

    # -- producing ----------------------------------------------------------------------------

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Store jobs in order; unique-key duplicates return the holder's id."""
        payloads = [encode_job(job) for job in jobs]  # refuse bad jobs before storing any
        ids: list[str] = []
        with self._lock:
            now = self.clock.time()
            for job, payload in zip(jobs, payloads, strict=True):
                queue = self._queue(job.queue)
                if (
                    job.id in queue.waiting
                    or job.id in queue.leased
                    or self._finished.get(job.id, now) > now
                ):
                    ids.append(job.id)
                    continue
                if job.unique_key is not None:
                    holder = self._unique_holder(job.unique_key, now)
                    if holder is not None:
                        ids.append(holder)
                        continue
                    expires = now + job.unique_for if job.unique_for is not None else None
                    self._unique[job.unique_key] = (job.id, expires)
                self._push(queue, job, payload, now)
                self._record(lifecycle.enqueued(job), now)
                ids.append(job.id)
            self._lock.notify_all()
        return ids

    # -- consuming ----------------------------------------------------------------------------

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        """Take up to ``limit`` due jobs, waiting up to ``timeout_s``."""
        deadline = self.clock.time() + timeout_s
        with self._lock:
            while True:
                now = self.clock.time()
                state = self._queue(queue)
                paused = state.paused_until is not None and state.paused_until > now
                if not paused:
                    self._promote(state, now)
                    taken = self._take(queue, state, worker_id, limit, now)
                    if taken:
                        return taken
                remaining = deadline - now
                if remaining <= 0:
                    return []
                wake = remaining
                if paused and state.paused_until is not None:
                    wake = min(wake, state.paused_until - now)
                elif state.delayed:
                    wake = min(wake, state.delayed[0][0] - now)
                self._lock.wait(max(wake, 0.0005))

    def _take(
        self, name: str, state: QueueState, worker_id: str, limit: int, now: float
    ) -> list[Job]:
        taken: list[Job] = []
        while state.ready and len(taken) < limit:
            _, _, _, job_id = heapq.heappop(state.ready)
            payload = state.waiting.pop(job_id, None)
            if payload is None:
                continue  # cleared or settled meanwhile
            try:
                job = decode_stored(payload, job_id=job_id, queue=name)
            except DecodeError as exc:
                self._bury_undecodable(name, state, job_id, payload, str(exc), now)
                continue
            job = job.with_changes(attempt=job.attempt + 1)
            state.leased[job_id] = Lease(
                worker_id=worker_id,
                attempt=job.attempt,
                until=now + self.options.lease_s,
                payload=payload,
            )
            self._record(lifecycle.started(job, worker_id, now), now)
            taken.append(job)
        return taken

    def _bury_undecodable(
        self, name: str, state: QueueState, job_id: str, payload: str, reason: str, now: float
    ) -> None:
        """Dead-letter a stored payload that is not the job envelope it should be, alone."""
        letter = dead_letter_from_decode_error(name, payload, f"job {job_id}: {reason}", now)
        self._release_unique_held_by({job_id})
        state.dead[letter.job.id] = letter
        while len(state.dead) > self.options.dead_letter_limit:
            state.dead.popitem(last=False)

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        """Apply outcomes; report the ids whose lease ``worker_id`` lost."""
        lost: list[str] = []
        with self._lock:
            now = self.clock.time()
            for outcome in outcomes:
                job = outcome.job
                state = self._queue(job.queue)
                lease = state.leased.get(job.id)
                if lease is None or lease.worker_id != worker_id or lease.attempt != job.attempt:
                    lost.append(job.id)
                    continue
                del state.leased[job.id]
                if (sample := outcome.lateness_sample) is not None:
                    state.lateness.append(sample)
                step = lifecycle.settled(
                    lifecycle.storable(outcome, now), now, cancelled=lease.cancelled
                )
                self._apply(state, step, now)
            self._lock.notify_all()
        return lost

    def _apply(self, state: QueueState, step: Step, now: float) -> None:
        """Apply a step decided by :mod:`dqueue.backends.lifecycle` (the lease is already gone)."""
        job = step.job
        if step.finishes:
            self._release_unique(job)
            self._remember_finished(job.id, now)
        if step.stores_again:
            self._push(state, job, encode_job(job), now)
        elif step.buries and step.failure is not None:
            state.dead[job.id] = DeadLetter(job=job, failure=step.failure, died_at=now)
            while len(state.dead) > self.options.dead_letter_limit:
                state.dead.popitem(last=False)
        self._record(step, now)

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        """Extend leases held by ``worker_id``; report the ones it lost."""
        lost: list[str] = []
        with self._lock:
            until = self.clock.time() + self.options.lease_s
            for job_id in job_ids:
                lease = next(
                    (q.leased[job_id] for q in self._queues.values() if job_id in q.leased), None
                )
                if lease is None or lease.worker_id != worker_id:
                    lost.append(job_id)
                else:
                    lease.until = until
        return lost

    def recover(self) -> int:
        """Put jobs with expired leases back, or bury those out of attempts."""
        recovered = 0
        with self._lock:
            now = self.clock.time()
            for state in self._queues.values():
                expired = [job_id for job_id, lease in state.leased.items() if lease.until <= now]
                for job_id in expired:
                    lease = state.leased.pop(job_id)
                    # The lease counts the runs; the payload is the job as it was stored.
                    job = decode_job(lease.payload).with_changes(attempt=lease.attempt)
                    step = lifecycle.lease_expired(
                        job, lease.worker_id, now, cancelled=lease.cancelled
                    )
                    self._apply(state, step, now)
                    recovered += 1
            if recovered:
                self._lock.notify_all()
        return recovered

    # -- introspection and control ------------------------------------------------------------

    def queues(self) -> list[str]:
        """Every queue seen."""
        with self._lock:
            return sorted(self._queues)

    def counts(self, queue: str) -> QueueCounts:
        """Counts per state."""
        with self._lock:
            now = self.clock.time()
            state = self._queue(queue)
            self._promote(state, now)
            delayed = sum(1 for _, _, job_id in state.delayed if job_id in state.waiting)
            return QueueCounts(
                queue=queue,
                ready=len(state.waiting) - delayed,
                delayed=delayed,
                in_flight=len(state.leased),
                dead=len(state.dead),
                paused_until=self._paused(state, now),
                recent_lateness=tuple(state.lateness),
            )

    @staticmethod
    def _paused(state: QueueState, now: float) -> float | None:
        paused = state.paused_until
        return paused if paused is not None and paused > now else None

    def pause(self, queue: str, until: float | None) -> None:
        """Pause (or, with ``None``, resume) ``queue``."""
        with self._lock:
            self._queue(queue).paused_until = until
            self._lock.notify_all()

    def resume(self, queue: str) -> None:
        """Hand out jobs of ``queue`` again."""
        self.pause(queue, None)

    def paused_until(self, queue: str) -> float | None:
        """When the pause ends."""
        with self._lock:
            return self._paused(self._queue(queue), self.clock.time())

    def clear(self, queue: str, *, limit: int | None = None) -> int:
        """Drop waiting jobs (``limit``: at most that many, the first enqueued first)."""
        with self._lock:
            state = self._queue(queue)
            doomed = list(itertools.islice(state.waiting, limit))
            self._release_unique_held_by(set(doomed))
            for job_id in doomed:
                del state.waiting[job_id]
            if not state.waiting:  # the heaps hold only ids that left (skipped when popped)
                state.ready.clear()
                state.delayed.clear()
            return len(doomed)

    def deduplicate(self, queue: str) -> tuple[int, int]:
        """Drop waiting jobs identical to an older one."""
        with self._lock:
            state = self._queue(queue)
            before = len(state.waiting)
            for job_id in lifecycle.duplicates(sorted(state.waiting.items())):
                del state.waiting[job_id]
            return before, len(state.waiting)

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """Newest first."""
        with self._lock:
            letters = list(self._queue(queue).dead.values())
        return letters[::-1][:limit]

    def retry_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Requeue dead letters with fresh attempts."""
        with self._lock:
            state = self._queue(queue)
            now = self.clock.time()
            chosen = list(state.dead) if job_ids is None else job_ids
            # A payload that could not be decoded has nothing to run: its letter stays.
            chosen = [i for i in chosen if i in state.dead and state.dead[i].raw is None]
            for job_id in chosen:
                job = lifecycle.revived(state.dead.pop(job_id).job, now)
                self._push(state, job, encode_job(job), now)
            self._lock.notify_all()
            return len(chosen)

    def purge_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Delete dead letters."""
        with self._lock:
            state = self._queue(queue)
            if job_ids is None:
                purged = len(state.dead)
                state.dead.clear()
                return purged
            return sum(1 for i in job_ids if state.dead.pop(i, None) is not None)

    def result(self, job_id: str) -> JobResult | None:
        """The kept record of ``job_id``."""
        with self._lock:
            kept = self._results.get(job_id)
            if kept is None:
                return None
            record, expires = kept
            if expires <= self.clock.time():
                del self._results[job_id]
                return None
            return record
