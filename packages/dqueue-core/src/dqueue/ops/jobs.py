"""Single jobs, for every front end: list a queue's jobs, find one, cancel, run now or later.

The stores answer through :class:`~dqueue.backends.inspection.JobInspection`; this module asks
them and turns their answers into what ``dqueue jobs``/``job``/``cancel``/``run-now`` and their
``manage.py queue_*`` twins print: JSON-ready data (:mod:`dqueue.ops.job_views` renders it as
text). A job is found by its id alone: every store the settings name is asked, each once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo

from ..backends import Backend, get_backend
from ..backends.base import JobResult, QueueControl
from ..backends.inspection import (
    JobInspection,
    JobPage,
    JobState,
    JobView,
    check_page_size,
    inspection_of,
)
from ..clock import to_datetime, to_epoch
from ..errors import DQueueError, JobNotFound, UsageError
from ..logs import printable
from ..settings import Settings
from .durations import parse_duration, parse_until

__all__ = [
    "STATE_NAMES",
    "JobDetail",
    "JobsChanged",
    "cancel_jobs",
    "find_job",
    "list_jobs",
    "parse_state",
    "reschedule_jobs",
    "state_name",
]

#: The states as people type them (``--state in-flight``), in the order ``status`` shows them.
STATE_NAMES: dict[str, JobState] = {
    "ready": JobState.READY,
    "delayed": JobState.DELAYED,
    "in-flight": JobState.IN_FLIGHT,
    "dead": JobState.DEAD,
}


def parse_state(text: str) -> JobState:
    """Read a state as people type it: ``ready``, ``delayed``, ``in-flight`` (or ``in_flight``).

    Raises:
        UsageError: the text names no state.
    """
    state = STATE_NAMES.get(text.strip().lower().replace("_", "-"))
    if state is None:
        raise UsageError(f"{text!r} is not a job state: use {', '.join(STATE_NAMES)}")
    return state


def state_name(state: JobState) -> str:
    """The state as people type it (``in-flight``)."""
    return state.value.replace("_", "-")


def list_jobs(
    settings: Settings, queue: str, state: JobState, *, limit: int = 50, cursor: str | None = None
) -> JobPage:
    """Up to ``limit`` jobs of ``queue`` in ``state``, in due order, from ``cursor``.

    Raises:
        UnsupportedOperation: the queue's store cannot list its jobs.
        UsageError: ``cursor`` is not one the store gave for that queue and state.
        ValueError: ``limit`` is below 1.
    """
    check_page_size(limit)
    store = inspection_of(get_backend(queue, settings=settings))
    try:
        return store.jobs(queue, state, limit=limit, cursor=cursor)
    except DQueueError:
        raise
    except ValueError:
        raise UsageError(
            f"not a cursor of the {state_name(state)} jobs of queue {queue!r} "
            "(use the one the previous page printed, or none for the first page)"
        ) from None


def _inspecting(settings: Settings) -> list[Backend]:
    """The stores the settings name (``DQUEUE_BACKEND``, overrides) that inspect jobs, each once.

    Raises:
        UnsupportedOperation: none can.
    """
    stores: dict[str, Backend] = {}
    # "" is never a queue: it selects DQUEUE_BACKEND even when "default" is overridden.
    for queue in ["", *sorted(settings.BACKEND_OVERRIDES)]:
        path = settings.backend_path(queue)
        if path not in stores:
            stores[path] = get_backend(queue, settings=settings)
    able: list[Backend] = [store for store in stores.values() if isinstance(store, JobInspection)]
    if not able:
        inspection_of(next(iter(stores.values())))  # raises, naming the store
    return able


@dataclass(frozen=True, slots=True, kw_only=True)
class JobDetail:
    """One job as ``dqueue job ID`` shows it: where it is stored, and its result record.

    A job that finished and asked for its result is no longer stored: ``view`` is then
    ``None`` and ``result`` says how it ended.
    """

    job_id: str
    view: JobView | None
    result: JobResult | None


def _result(store: Backend, job_id: str) -> JobResult | None:
    return store.result(job_id) if isinstance(store, QueueControl) else None


def find_job(settings: Settings, job_id: str) -> JobDetail:
    """The job ``job_id`` in any queue, state and store, with its result record if any.

    Raises:
        JobNotFound: no store holds the job nor a result record of it.
        UnsupportedOperation: no store of the settings can inspect single jobs.
    """
    for store in _inspecting(settings):
        view = inspection_of(store).job(job_id)
        record = _result(store, job_id)
        if view is not None or record is not None:
            return JobDetail(job_id=job_id, view=view, result=record)
    raise JobNotFound(
        f"no job with the id {printable(job_id)!r} is stored "
        "(a finished job is kept only while its result is)"
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class JobsChanged:
    """Jobs cancelled or rescheduled: which of the ids asked for, and why the others were not.

    ``missed`` maps each id that was not changed to where it is (``None``: not stored).
    """

    action: str
    job_ids: tuple[str, ...]
    changed: tuple[str, ...]
    missed: dict[str, JobView | None] = field(default_factory=dict)
    #: The new due time of rescheduled jobs (``None``: now, or a cancel).
    run_at: datetime | None = None

    def check_all_changed(self) -> None:
        """Refuse ids that were not changed, saying for each why (unknown, dead, running).

        Raises:
            JobNotFound: some ids were not changed.
        """
        if not self.missed:
            return
        reasons = ", ".join(
            f"{printable(job_id)} ({_where(view)})" for job_id, view in self.missed.items()
        )
        raise JobNotFound(f"{len(self.missed)} of {len(self.job_ids)} not {self.action}: {reasons}")


def _where(view: JobView | None) -> str:
    """Why a job was not changed: where it is."""
    if view is None:
        return "no such job"
    return state_name(view.state) + (", already cancelled" if view.cancelled else "")


#: What a change does to the ids a store may hold; returns those it changed.
_Change = Callable[[JobInspection, list[str]], list[str]]


def _apply(
    settings: Settings,
    job_ids: Sequence[str],
    action: str,
    change: _Change,
    *,
    run_at: datetime | None = None,
) -> JobsChanged:
    ids = tuple(dict.fromkeys(job_ids))  # each once: a repeat would count as missed
    stores = [inspection_of(store) for store in _inspecting(settings)]
    remaining = list(ids)
    changed: list[str] = []
    for store in stores:
        if not remaining:
            break
        done = set(change(store, remaining))
        changed += [job_id for job_id in remaining if job_id in done]
        remaining = [job_id for job_id in remaining if job_id not in done]
    missed: dict[str, JobView | None] = {}
    for job_id in remaining:
        views = (store.job(job_id) for store in stores)
        missed[job_id] = next((view for view in views if view is not None), None)
    return JobsChanged(
        action=action, job_ids=ids, changed=tuple(changed), missed=missed, run_at=run_at
    )


def cancel_jobs(settings: Settings, job_ids: Sequence[str]) -> JobsChanged:
    """Cancel jobs by id: a waiting or delayed one never runs, a running one is not retried.

    Raises:
        UnsupportedOperation: no store of the settings can change single jobs.
    """
    return _apply(settings, job_ids, "cancelled", lambda store, ids: store.cancel(ids))


def reschedule_jobs(
    settings: Settings,
    job_ids: Sequence[str],
    *,
    delay: str | None = None,
    at: str | None = None,
    default_tz: tzinfo | None = None,
) -> JobsChanged:
    """Make ready or delayed jobs due now, after ``delay`` (``2h``), or ``at`` a time (ISO 8601).

    Raises:
        InvalidTime: the duration or the time cannot be read, or the time is past.
        UnsupportedOperation: no store of the settings can change single jobs.
    """
    wait = None if delay is None else parse_duration(delay)  # a typo is refused before any I/O
    now = to_datetime(_inspecting(settings)[0].clock.time())
    when: datetime | None = None
    if at is not None:
        when = parse_until(at, now=now, default_tz=default_tz)
    elif wait is not None:
        when = now + wait
    run_at = None if when is None else to_epoch(when)
    return _apply(
        settings,
        job_ids,
        "rescheduled",
        lambda store, ids: store.reschedule(ids, run_at),
        run_at=None if when is None else when.astimezone(UTC),
    )
