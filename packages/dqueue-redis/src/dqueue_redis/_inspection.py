"""Single jobs of the Redis backends listed, found, cancelled, rescheduled; their progress kept.

Each page is one script (``lua/jobs.lua``), one consistent look. Sorted sets (delayed jobs,
leases, dead letters) page from a rank found in O(log n), however many jobs share a due time;
ready lists page from an index, which Redis walks to (a list has nothing to seek by), and go on
after the last id listed when reserve has moved the list meanwhile.

At-most-once, a reserved job has left the store with its worker: it is listed nowhere, not
found, and cannot be cancelled; the progress its task reports is kept in its result record
alone (``lua/progress.lua``), when it keeps one.

A queue in partitions is listed one partition after another (each in its own order), and
single jobs are looked for in every partition of every queue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from dqueue.backends.inspection import (
    CursorField,
    JobPage,
    JobState,
    JobView,
    check_page_size,
    make_cursor,
    read_cursor,
    stored_view,
)
from dqueue.backends.lifecycle import decode_stored
from dqueue.errors import DecodeError
from dqueue.job import Job, encode_job
from dqueue.json_values import decode_progress, encode_progress

from ._control import RedisControl
from .records import read_dead_letter
from .scripts import Arg

__all__ = ["RedisInspection"]

#: Most jobs one page lists: bounds how long one call holds the server.
_PAGE_MAX = 1000
#: Where a page ends: a position in a ready list (priority, index after it, id), or in a
#: sorted set (score, member).
_LIST: tuple[type[CursorField], ...] = (int, int, str)
_ZSET: tuple[type[CursorField], ...] = (float, str)
#: An index or priority past this could not be a real one (and Lua would round it).
_LARGEST = 2**53


class RedisInspection(RedisControl):
    """:class:`~dqueue.backends.inspection.JobInspection` of both Redis backends."""

    def jobs(
        self, queue: str, state: JobState, *, limit: int = 50, cursor: str | None = None
    ) -> JobPage:
        """Up to ``limit`` (at most 1,000) jobs of ``queue`` in ``state``, from ``cursor``.

        Ready jobs are listed by priority, each list in hand-out order, then the delayed jobs
        that became due (the next reserve moves them to the end of their list). At-most-once,
        the in-flight state is empty (as ``counts`` says). A queue in partitions lists its
        partitions one after another, each in that order; the cursor says which one it is in.

        Raises:
            ValueError: ``limit`` is below 1, or ``cursor`` is not one this store returned for
                ``state``.
        """
        check_page_size(limit)
        bases = self.partitions(queue)
        if len(bases) == 1:
            return self._page(queue, bases[0], state, limit, cursor)
        limit = min(limit, _PAGE_MAX)
        index, inner = 0, cursor
        if cursor is not None:
            number, text = read_cursor(cursor, state, (int, str))
            if not 0 <= int(number) < len(bases):
                raise ValueError("the cursor names no partition of this queue")
            index, inner = int(number), str(text) or None
        views: list[JobView] = []
        while True:
            page = self._page(queue, bases[index], state, limit - len(views), inner)
            views += page.views
            if page.cursor is not None:
                return JobPage(views, make_cursor(state, index, page.cursor))
            index, inner = index + 1, None
            if index == len(bases):
                return JobPage(views)
            if len(views) == limit:
                return JobPage(views, make_cursor(state, index, ""))

    def _page(
        self, queue: str, base: str, state: JobState, limit: int, cursor: str | None
    ) -> JobPage:
        """A page of the jobs kept at ``base`` (one queue, or one partition of it)."""
        position = _read_position(cursor, state) if cursor is not None else ()
        args: list[Arg] = [state.value, min(limit, _PAGE_MAX), *position]
        now = self.clock.time()
        reply = self._script("jobs", base, args, now=now)
        end = 1 + int(reply[0])
        entries = reply[end:]
        views = [
            self._view(queue, state, *entries[index : index + 6], now=now)
            for index in range(0, len(entries), 6)
        ]
        if end == 1:
            return JobPage(views)
        next_at = [value.decode() if isinstance(value, bytes) else value for value in reply[1:end]]
        if len(next_at) == 2:
            next_at[0] = float(next_at[0])  # a score, as the sorted set holds it
        return JobPage(views, make_cursor(state, *next_at))

    def job(self, job_id: str) -> JobView | None:
        """The job ``job_id`` in any queue and state (``None``: not stored).

        No index maps ids to queues: after the queue names are read, every queue (every
        partition) is asked, one small script each, all in one round trip. A waiting job is
        delayed while its due time is ahead by the caller's clock (the clocks of the store's
        clients agree, see the README's Clocks).
        """
        placed = self.placed(self.queues())
        if not placed:
            return None
        replies = self._scripts([("find", base, [job_id]) for _, base in placed])
        now = self.clock.time()
        found = [(queue, reply) for (queue, _), reply in zip(placed, replies, strict=True)]
        for queue, (payload, runs, lease, _, mark, progress) in found:
            if payload is None:
                continue
            if lease is not None and b"|" in (runs or b""):
                in_flight = (job_id, payload, runs, lease, mark, progress)
                return self._view(queue, JobState.IN_FLIGHT, *in_flight, now=now)
            view = self._view(queue, JobState.READY, job_id, payload, runs, b"", 0, b"", now=now)
            if view.raw is None and view.job.due_at > now:
                return replace(view, state=JobState.DELAYED)
            return view
        for queue, (_, _, _, letter, _, _) in found:
            if letter is not None:
                dead = (job_id, letter, b"", b"", 0, b"")
                return self._view(queue, JobState.DEAD, *dead, now=now)
        return None

    def cancel(self, job_ids: Sequence[str]) -> list[str]:
        """Cancel jobs (see :mod:`dqueue.backends.inspection`); return the ids cancelled.

        Atomic per queue (``lua/cancel.lua``): a job a worker reserves meanwhile is either
        taken out before, and never runs, or found in flight. At-least-once that one is marked,
        and finishes as cancelled rather than be retried; at-most-once it has left the store,
        and is not cancelled. Every known queue is asked, in one round trip (as :meth:`job`).
        """
        ids = list(dict.fromkeys(job_ids))
        placed = self.placed(self.queues())
        if not ids or not placed:
            return []
        args: list[Arg] = [repr(self.options.id_retention_s), *ids]
        replies = self._scripts([("cancel", base, args) for _, base in placed], replicate=True)
        cancelled = {job_id.decode() for reply in replies for job_id in reply}
        return [job_id for job_id in ids if job_id in cancelled]

    def reschedule(self, job_ids: Sequence[str], run_at: float | None) -> list[str]:
        """Make waiting jobs due at ``run_at`` (``None``: now); return the ids moved.

        The new due time is written into each envelope (``run_after``), so that it says where
        the job waits; the script moves a job only if its envelope is still the one read (a
        round trip after the one that reads them from every known queue).
        """
        ids = list(dict.fromkeys(job_ids))
        placed = self.placed(self.queues())
        if not ids or not placed:
            return []
        now = self.clock.time()
        due_at = now if run_at is None else run_at
        stored = self._pipeline(*(("HMGET", base + "jobs", *ids) for _, base in placed))
        calls: list[tuple[str, str, Sequence[Arg]]] = []
        for (queue, base), payloads in zip(placed, stored, strict=True):
            args: list[Arg] = [repr(due_at) if due_at > now else ""]
            for job_id, payload in zip(ids, payloads, strict=True):
                if payload is None:
                    continue
                try:
                    job = decode_stored(payload, job_id=job_id, queue=queue)
                except DecodeError:
                    continue  # nothing to run: a worker dead-letters it where it is
                args += [job_id, payload, encode_job(job.with_changes(run_after=due_at))]
            if len(args) > 1:
                calls.append(("reschedule", base, args))
        replies = self._scripts(calls, now=now, replicate=True) if calls else []
        moved = {job_id.decode() for reply in replies for job_id in reply}
        return [job_id for job_id in ids if job_id in moved]

    def set_progress(self, job: Job, progress: Any, *, worker_id: str) -> bool:
        """Keep the progress of the run of ``job`` that ``worker_id`` holds (``lua/progress.lua``).

        One script on the job's queue: one round trip, in the queue's slot.
        """
        text = encode_progress(progress)
        args: list[Arg] = [worker_id, job.id, job.attempt, text]
        return bool(self._script("progress", self.base_of(job), args))

    def _view(
        self,
        queue: str,
        state: JobState,
        job_id: str | bytes,
        data: bytes,
        runs: bytes | None,
        score: bytes | str,
        cancelled: int,
        progress: bytes | None,
        *,
        now: float,
    ) -> JobView:
        """One job as a script replied it (``runs``, ``score`` and ``progress`` may be empty)."""
        name = job_id.decode() if isinstance(job_id, bytes) else job_id
        if state is JobState.DEAD:
            letter = read_dead_letter(queue, name, data)
            job = letter.job
            failure, raw = letter.failure, letter.raw
            return JobView(job=job, state=state, due_at=job.due_at, failure=failure, raw=raw)
        attempt, _, worker = (runs or b"").decode().partition("|")
        fields: dict[str, Any] = {"attempt": int(attempt or 0)}
        if state is JobState.IN_FLIGHT:
            fields.update(worker_id=worker or None, lease_until=float(score))
            fields["cancelled"] = cancelled == 1
            fields["progress"] = decode_progress(progress)
        elif score:
            fields["due_at"] = float(score)
        view = stored_view(data, job_id=name, queue=queue, state=state, **fields)
        if view.raw is not None and state is JobState.READY and not score:
            return replace(view, due_at=now)  # a ready list keeps no due time: due now
        return view


def _read_position(cursor: str, state: JobState) -> tuple[Arg, ...]:
    """The script arguments of where the page of ``cursor`` ends.

    Raises:
        ValueError: ``cursor`` is not one :meth:`RedisInspection.jobs` made for ``state``.
    """
    shapes = (_LIST, _ZSET) if state is JobState.READY else (_ZSET,)
    for shape in shapes[:-1]:
        try:
            position = read_cursor(cursor, state, shape)
        except ValueError:
            continue
        if all(abs(value) < _LARGEST for value in position if isinstance(value, int)):
            return tuple(str(value) for value in position)
    position = read_cursor(cursor, state, shapes[-1])
    return tuple(repr(value) if isinstance(value, float) else str(value) for value in position)
