"""Single jobs seen and changed: list a queue's jobs by state, find one by id, cancel, reschedule.

A delay queue holds jobs for months; counting them is not enough, a user must see each one and
act on it. A store offers this by implementing :class:`JobInspection`, which front ends (the
``dqueue jobs``/``job``/``cancel``/``run-now`` commands, their ``manage.py queue_*`` twins and
the admin) detect with ``isinstance``, as they detect :class:`~dqueue.backends.base.QueueControl`.

Semantics every store keeps:

- ``jobs`` lists one state of one queue in due order (ready: the order ``reserve`` hands them
  out; delayed: earliest due first; in flight: soonest lease end first, which is earliest
  reserved unless a lease was renewed; dead: newest first) and pages with an opaque cursor,
  never an offset: the page after a million delayed jobs costs what the first page costs.
  Jobs that move between pages may be skipped or seen twice, as in any cursor over live data;
  none is ever invented. A cursor the store did not make raises ``ValueError``.
- ``job`` finds a job by id in any queue and state, poison included (``raw`` is then set).
- ``cancel`` removes a ready or delayed job so that it never runs, and marks an in-flight one
  so that it is not retried (its current run is not interrupted). A cancelled job with a result
  record reads :attr:`~dqueue.backends.base.JobStatus.CANCELLED`; its id counts as finished
  for enqueue's idempotency.
- ``reschedule`` moves a ready or delayed job to a new due time (``None``: now); a job in
  flight or dead is left alone (retry a dead letter with ``retry_dead``).

A store may also keep the progress a running task reports (``dqueue.set_progress``) by
implementing :class:`JobProgress`: it belongs to the run, so a view shows it while the job is
in flight (:attr:`JobView.progress`) and a retried job starts without one; the job's result
record, when it keeps one, holds the last progress reported after the job finishes
(:attr:`~dqueue.backends.base.JobResult.progress`).

What cancelling does to a job's life (the cancelled mark of a job in flight) is decided in
:mod:`dqueue.backends.lifecycle`. Stores build cursors with :func:`make_cursor` and read them
with :func:`read_cursor`, and views of stored payloads with :func:`stored_view`.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ..errors import DecodeError, UnsupportedOperation
from ..job import Job, JobFailure
from .base import Backend
from .lifecycle import decode_stored

__all__ = [
    "JobInspection",
    "JobPage",
    "JobProgress",
    "JobState",
    "JobView",
    "check_page_size",
    "inspection_of",
    "make_cursor",
    "read_cursor",
    "stored_view",
]

#: What a cursor's position holds, field by field.
CursorField = int | float | str


class JobState(enum.Enum):
    """Where a stored job waits (the states ``status`` counts)."""

    READY = "ready"  # due, waiting for a worker
    DELAYED = "delayed"  # waiting for its due time
    IN_FLIGHT = "in_flight"  # handed to a worker (leased, on an at-least-once store)
    DEAD = "dead"  # in the dead letters


@dataclass(frozen=True, slots=True, kw_only=True)
class JobView:
    """One stored job as a reader sees it."""

    job: Job
    state: JobState
    #: When it is due (epoch seconds): ``run_after``, or when it was enqueued if not delayed.
    due_at: float
    #: The worker holding it (in flight on a store that knows it), else ``None``.
    worker_id: str | None = None
    #: When its lease runs out (in flight, at-least-once stores), else ``None``.
    lease_until: float | None = None
    #: Why it died (dead letters), else ``None``.
    failure: JobFailure | None = None
    #: The raw payload as text, when the stored job does not decode (``job`` is then a
    #: stand-in), as :attr:`DeadLetter.raw <dqueue.backends.base.DeadLetter.raw>` keeps it:
    #: hostile text, which front ends show through ``dqueue.ops.inspection.raw_preview``.
    raw: str | None = None
    #: Cancelled while in flight: its run goes on, but it will not be retried.
    cancelled: bool = False
    #: The last progress its running task reported (a JSON value; in flight only), else
    #: ``None``: see :class:`JobProgress`.
    progress: Any = None


@dataclass(frozen=True, slots=True)
class JobPage:
    """One page of :meth:`JobInspection.jobs`; ``cursor`` fetches the next (``None``: last)."""

    views: list[JobView]
    cursor: str | None = None


@runtime_checkable
class JobInspection(Protocol):
    """Listing, finding, cancelling and rescheduling single jobs (see the module docstring)."""

    def jobs(
        self, queue: str, state: JobState, *, limit: int = 50, cursor: str | None = None
    ) -> JobPage:
        """Up to ``limit`` jobs of ``queue`` in ``state``, from ``cursor`` (``None``: the first).

        Raises:
            ValueError: ``cursor`` is not one this store returned for that queue and state.
        """

    def job(self, job_id: str) -> JobView | None:
        """The stored job ``job_id`` in any queue and state; ``None`` when none is stored."""

    def cancel(self, job_ids: Sequence[str]) -> list[str]:
        """Cancel those jobs (see the module docstring); return the ids that were cancelled."""

    def reschedule(self, job_ids: Sequence[str], run_at: float | None) -> list[str]:
        """Make ready or delayed jobs due at ``run_at`` (``None``: now); return the ids moved."""


@runtime_checkable
class JobProgress(Protocol):
    """Keeping the progress a running task reports, where readers see it (see the module)."""

    def set_progress(self, job: Job, progress: Any, *, worker_id: str) -> bool:
        """Keep ``progress`` as that of the run of ``job`` (this attempt) held by ``worker_id``.

        It replaces the progress reported before, in the view of the job in flight and in its
        result record when it keeps one. The job is given whole, not its id: a store keeps
        each queue apart (Redis keys), and a run whose lease was lost must not write over the
        progress of the run that took the job over. Returns whether it was kept somewhere a
        reader sees it.

        Raises:
            EncodeError: ``progress`` is not a small JSON value
                (:func:`dqueue.json_values.encode_progress`).
        """


def inspection_of(backend: Backend) -> JobInspection:
    """``backend`` as :class:`JobInspection`.

    Raises:
        UnsupportedOperation: the backend cannot list or change single jobs.
    """
    if not isinstance(backend, JobInspection):
        raise UnsupportedOperation(f"{backend.name} cannot list or change single jobs")
    return backend


def check_page_size(limit: int) -> None:
    """Refuse a page of fewer than one job (what :meth:`JobInspection.jobs` is given).

    Raises:
        ValueError: ``limit`` is below 1.
    """
    if limit < 1:
        raise ValueError(f"a page holds 1 job or more, not {limit}")


def make_cursor(state: JobState, *position: CursorField) -> str:
    """The cursor of the page after the job at ``position`` (its sort key) in ``state``."""
    return json.dumps([state.value, *position], separators=(",", ":"))


def read_cursor(
    cursor: str, state: JobState, shape: tuple[type[CursorField], ...]
) -> tuple[CursorField, ...]:
    """The position that :func:`make_cursor` put in ``cursor``, its fields of types ``shape``.

    Raises:
        ValueError: ``cursor`` was not made for ``state`` with that shape. The message names
            the cursor, never quotes it (it is whatever a user typed).
    """
    refused = ValueError(f"the cursor is not one of a page of {state.value} jobs")
    try:
        data = json.loads(cursor)
    except (ValueError, RecursionError):
        raise refused from None
    if not isinstance(data, list) or len(data) != len(shape) + 1 or data[0] != state.value:
        raise refused
    position: list[CursorField] = []
    for value, kind in zip(data[1:], shape, strict=True):
        if kind is float and type(value) is int:
            value = float(value)
        if type(value) is not kind or (isinstance(value, float) and not math.isfinite(value)):
            raise refused
        position.append(value)
    return tuple(position)


def stored_view(
    payload: bytes | str,
    *,
    job_id: str,
    queue: str,
    state: JobState,
    due_at: float | None = None,
    attempt: int | None = None,
    **fields: Any,
) -> JobView:
    """The view of a job a store keeps as ``payload`` under ``job_id`` in ``queue``.

    ``due_at`` defaults to the job's own. ``attempt`` is the store's count of runs, when it
    keeps one beside the payload (the payload's own count only seeded it). A payload that is
    not that job's envelope gets a stand-in job and its ``raw`` text, as a dead letter of it
    would. ``fields`` are the other :class:`JobView` fields.
    """
    try:
        job = decode_stored(payload, job_id=job_id, queue=queue)
    except DecodeError:
        text = payload if isinstance(payload, str) else payload.decode("utf-8", errors="replace")
        at = due_at if due_at is not None else 0.0
        stand_in = Job(id=job_id, task="<undecodable>", queue=queue, enqueued_at=at)
        return JobView(job=stand_in, state=state, due_at=at, raw=text, **fields)
    if attempt is not None and attempt != job.attempt:
        job = job.with_changes(attempt=attempt)
    at = due_at if due_at is not None else job.due_at
    return JobView(job=job, state=state, due_at=at, **fields)
