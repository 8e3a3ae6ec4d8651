"""Single jobs of the memory store listed, found, cancelled, rescheduled; their progress kept.

:class:`~dqueue.backends.memory.MemoryBackend` inherits :class:`MemoryInspection`. Memory keeps
heaps, not an index to page through: a page sorts the state's jobs by their position in due
order and starts after the cursor's (a binary search), so that a cursor means what it means in
the other stores, a position and never an offset. Only the jobs on the page are decoded.
"""

from __future__ import annotations

import bisect
import heapq
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from functools import partial
from typing import Any, Protocol

from ..clock import Clock
from ..errors import DecodeError
from ..job import Job, encode_job
from ..json_values import decode_progress, encode_progress
from . import lifecycle
from .base import DeadLetter, JobResult, StoreOptions
from .inspection import (
    CursorField,
    JobPage,
    JobState,
    JobView,
    check_page_size,
    make_cursor,
    read_cursor,
    stored_view,
)
from .lifecycle import Step, decode_stored
from .memory_state import Lease, QueueState

__all__ = ["MemoryInspection"]

_Position = tuple[CursorField, ...]
#: A job's position in its state's order, and how to build its view.
_Entry = tuple[_Position, Callable[[], JobView]]

#: The fields of a position: ready (-priority, due, sequence), delayed (due, sequence),
#: in flight (lease end, id), dead (death time, id; newest first).
_SHAPES: dict[JobState, tuple[type[CursorField], ...]] = {
    JobState.READY: (int, float, int),
    JobState.DELAYED: (float, int),
    JobState.IN_FLIGHT: (float, str),
    JobState.DEAD: (float, str),
}


class _MemoryStore(Protocol):
    """What of :class:`~dqueue.backends.memory.MemoryBackend` the methods below use."""

    clock: Clock
    options: StoreOptions
    _lock: threading.Condition
    _queues: dict[str, QueueState]
    _results: dict[str, tuple[JobResult, float]]

    def _queue(self, name: str) -> QueueState: ...
    def _promote(self, queue: QueueState, now: float) -> None: ...
    def _push(self, queue: QueueState, job: Job, payload: str, now: float) -> None: ...
    def _apply(self, state: QueueState, step: Step, now: float) -> None: ...
    def _release_unique_held_by(self, job_ids: set[str]) -> None: ...
    def _remember_finished(self, job_id: str, now: float) -> None: ...


def _waiting(name: str, queue: QueueState, state: JobState) -> list[_Entry]:
    """Ready or delayed jobs of ``queue`` in due order, each once (heaps may hold stale ids)."""
    seen: set[str] = set()
    entries: list[_Entry] = []
    keyed: list[tuple[_Position, str]]
    if state is JobState.READY:
        keyed = [(entry[:3], entry[3]) for entry in queue.ready]
    else:
        keyed = [(entry[:2], entry[2]) for entry in queue.delayed]
    keyed.sort(key=lambda item: item[0])
    for position, job_id in keyed:
        if job_id in queue.waiting and job_id not in seen:
            seen.add(job_id)
            view = partial(
                stored_view,
                queue.waiting[job_id],
                job_id=job_id,
                queue=name,
                state=state,
                due_at=float(position[-2]),
            )
            entries.append((position, view))
    return entries


def _in_flight_view(name: str, job_id: str, lease: Lease) -> JobView:
    return stored_view(
        lease.payload,
        job_id=job_id,
        queue=name,
        state=JobState.IN_FLIGHT,
        attempt=lease.attempt,
        worker_id=lease.worker_id,
        lease_until=lease.until,
        cancelled=lease.cancelled,
        progress=decode_progress(lease.progress),
    )


def _entries(name: str, queue: QueueState, state: JobState) -> list[_Entry]:
    """Every job of ``queue`` in ``state``, in the order listings show them."""
    if state in (JobState.READY, JobState.DELAYED):
        return _waiting(name, queue, state)
    if state is JobState.IN_FLIGHT:
        leases = sorted((lease.until, job_id) for job_id, lease in queue.leased.items())
        return [
            ((until, job_id), partial(_in_flight_view, name, job_id, queue.leased[job_id]))
            for until, job_id in leases
        ]
    # Dead letters are kept oldest first: listed from the end.
    return [
        ((letter.died_at, job_id), partial(_dead_view, letter))
        for job_id, letter in reversed(queue.dead.items())
    ]


def _dead_view(letter: DeadLetter) -> JobView:
    job = letter.job
    return JobView(
        job=job, state=JobState.DEAD, due_at=job.due_at, failure=letter.failure, raw=letter.raw
    )


def _find_waiting(name: str, queue: QueueState, job_id: str) -> JobView | None:
    """The view of ``job_id`` if it waits in ``queue`` (delayed ones due are promoted)."""
    payload = queue.waiting.get(job_id)
    if payload is None:
        return None
    view = partial(stored_view, payload, job_id=job_id, queue=name)
    ready = next((entry[1] for entry in queue.ready if entry[3] == job_id), None)
    if ready is not None:
        return view(state=JobState.READY, due_at=ready)
    delayed = next((entry[0] for entry in queue.delayed if entry[2] == job_id), None)
    return view(state=JobState.DELAYED, due_at=delayed)


def _start(entries: list[_Entry], state: JobState, after: _Position) -> int:
    """The index of the first entry after position ``after``."""
    if state is not JobState.DEAD:
        return bisect.bisect_right([position for position, _ in entries], after)
    for index, (position, _) in enumerate(entries):
        if position == after:  # the letter the last page ended with is still there
            return index + 1
    # It is gone (retried or purged): go on with the letters that died before it.
    died_at = float(after[0])
    return next((i for i, (p, _) in enumerate(entries) if float(p[0]) < died_at), len(entries))


def _unlist(queue: QueueState, job_id: str) -> None:
    """Drop ``job_id``'s entries from the heaps (it is pushed again or gone for good)."""
    queue.ready = [entry for entry in queue.ready if entry[3] != job_id]
    queue.delayed = [entry for entry in queue.delayed if entry[2] != job_id]
    heapq.heapify(queue.ready)
    heapq.heapify(queue.delayed)


class MemoryInspection:
    """:class:`~dqueue.backends.inspection.JobInspection` of the memory store."""

    def jobs(
        self: _MemoryStore,
        queue: str,
        state: JobState,
        *,
        limit: int = 50,
        cursor: str | None = None,
    ) -> JobPage:
        """Up to ``limit`` jobs of ``queue`` in ``state``, in due order, from ``cursor``."""
        check_page_size(limit)
        after = read_cursor(cursor, state, _SHAPES[state]) if cursor is not None else None
        with self._lock:
            stored = self._queue(queue)
            self._promote(stored, self.clock.time())
            entries = _entries(queue, stored, state)
            start = 0 if after is None else _start(entries, state, after)
            page = entries[start : start + limit]
            views = [view() for _, view in page]
        if page and start + limit < len(entries):
            return JobPage(views, make_cursor(state, *page[-1][0]))
        return JobPage(views)

    def job(self: _MemoryStore, job_id: str) -> JobView | None:
        """The job ``job_id`` in any queue and state, or ``None``."""
        with self._lock:
            now = self.clock.time()
            for name, stored in self._queues.items():
                if job_id in stored.waiting:
                    self._promote(stored, now)
                    return _find_waiting(name, stored, job_id)
                lease = stored.leased.get(job_id)
                if lease is not None:
                    return _in_flight_view(name, job_id, lease)
                letter = stored.dead.get(job_id)
                if letter is not None:
                    return _dead_view(letter)
        return None

    def cancel(self: _MemoryStore, job_ids: Sequence[str]) -> list[str]:
        """Remove waiting jobs for good, mark jobs in flight not to be retried."""
        cancelled: list[str] = []
        with self._lock:
            now = self.clock.time()
            for job_id in dict.fromkeys(job_ids):
                for name, stored in self._queues.items():
                    payload = stored.waiting.pop(job_id, None)
                    lease = stored.leased.get(job_id)
                    if payload is not None:
                        _unlist(stored, job_id)
                        try:
                            job = decode_stored(payload, job_id=job_id, queue=name)
                        except DecodeError:  # no record to write: free what it held
                            self._release_unique_held_by({job_id})
                            self._remember_finished(job_id, now)
                        else:
                            self._apply(stored, lifecycle.cancelled(job, now), now)
                    elif lease is not None and not lease.cancelled:
                        lease.cancelled = True  # settle and recover read it (lifecycle)
                    else:
                        continue
                    cancelled.append(job_id)
                    break
        return cancelled

    def reschedule(self: _MemoryStore, job_ids: Sequence[str], run_at: float | None) -> list[str]:
        """Make waiting jobs due at ``run_at`` (``None``: now)."""
        moved: list[str] = []
        with self._lock:
            now = self.clock.time()
            for job_id in dict.fromkeys(job_ids):
                for name, stored in self._queues.items():
                    if job_id not in stored.waiting:
                        continue
                    try:
                        job = decode_stored(stored.waiting[job_id], job_id=job_id, queue=name)
                    except DecodeError:
                        break  # nothing to run: a worker dead-letters it where it is
                    job = job.with_changes(run_after=now if run_at is None else run_at)
                    _unlist(stored, job_id)
                    self._push(stored, job, encode_job(job), now)
                    moved.append(job_id)
                    break
            self._lock.notify_all()
        return moved

    def set_progress(self: _MemoryStore, job: Job, progress: Any, *, worker_id: str) -> bool:
        """Keep the progress of the run of ``job`` that ``worker_id`` holds, on its lease."""
        text = encode_progress(progress)
        with self._lock:
            queue = self._queues.get(job.queue)
            lease = None if queue is None else queue.leased.get(job.id)
            if lease is None or lease.worker_id != worker_id or lease.attempt != job.attempt:
                return False
            lease.progress = text
            kept = self._results.get(job.id)
            if kept is not None:
                record, expires = kept
                self._results[job.id] = (replace(record, progress=decode_progress(text)), expires)
        return True
