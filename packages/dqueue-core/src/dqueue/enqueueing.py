"""Sending built jobs to their backends, with one hook for frameworks.

dqueue-django installs a dispatcher that holds jobs until the surrounding database
transaction commits (and drops them if it rolls back). Everything else goes straight to the
backend. Inside ``with dqueue.bulk_enqueue():`` jobs are collected and sent in batches.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from .backends import Backend, get_backend
from .errors import BackendUnavailable
from .handle import JobHandle
from .job import Job
from .settings.sections import registered_sections

__all__ = ["Dispatcher", "bulk_enqueue", "dispatch", "dispatch_one", "send", "set_dispatcher"]

#: ``(jobs, task options of plugins) -> ids``: a dispatcher may defer and return the jobs' ids.
Dispatcher = Callable[[Sequence[Job], Mapping[str, Any]], list[str]]

_NO_OPTIONS: Mapping[str, Any] = MappingProxyType({})
_logger = logging.getLogger("dqueue.enqueueing")


def send(jobs: Sequence[Job], options: Mapping[str, Any] = _NO_OPTIONS) -> list[str]:
    """Store jobs now, grouped by backend, one ``enqueue_many`` per backend; ids in order.

    Raises:
        BackendUnavailable: a store could not be reached or did not answer in time. Its jobs
            may have been stored all the same: the message names their ids. Sending them
            again with the same ids (``Task.using(job_id=...)``) cannot create a second job.
    """
    if len(jobs) == 1:
        return [_enqueue(get_backend(jobs[0].queue), jobs)[0]]
    ids: dict[int, str] = {}
    groups: dict[int, tuple[Backend, list[tuple[int, Job]]]] = {}
    for index, job in enumerate(jobs):
        backend = get_backend(job.queue)
        groups.setdefault(id(backend), (backend, []))[1].append((index, job))
    for backend, members in groups.values():
        stored = _enqueue(backend, [job for _, job in members])
        for (index, _), job_id in zip(members, stored, strict=True):
            ids[index] = job_id
    return [ids[index] for index in range(len(jobs))]


def _enqueue(backend: Backend, jobs: Sequence[Job]) -> list[str]:
    try:
        return [backend.enqueue(jobs[0])] if len(jobs) == 1 else backend.enqueue_many(jobs)
    except BackendUnavailable as exc:
        kind = "job" if len(jobs) == 1 else "jobs"
        more = f" and {len(jobs) - 3} more" if len(jobs) > 3 else ""
        raise BackendUnavailable(
            f"{exc}; {kind} {', '.join(job.id for job in jobs[:3])}{more} may have been stored all"
            " the same: enqueueing again with the same job id cannot create a second job"
            " (enqueue is idempotent by job id, see DQUEUE_ID_RETENTION)"
        ) from exc


_dispatcher: Dispatcher = send


def set_dispatcher(dispatcher: Dispatcher | None) -> None:
    """Route every enqueue through ``dispatcher`` (``None`` restores direct sending)."""
    global _dispatcher
    _dispatcher = dispatcher or send


@dataclass
class _Batch:
    size: int
    jobs: list[Job] = field(default_factory=list)


_batch: contextvars.ContextVar[_Batch | None] = contextvars.ContextVar("dqueue_batch", default=None)


_first_dispatch = True


def _warn_of_unread_settings() -> None:
    """Log, once per process, what the plugins' sections say is configured but not read."""
    global _first_dispatch
    _first_dispatch = False
    for section in registered_sections():
        warning = section.unread_settings_warning()
        if warning:
            _logger.warning(warning)


def dispatch(jobs: Sequence[Job], *, options: Mapping[str, Any] = _NO_OPTIONS) -> list[str]:
    """Send jobs through the dispatcher (or add them to the open bulk batch)."""
    if _first_dispatch:
        _warn_of_unread_settings()
    batch = _batch.get()
    if batch is not None:
        batch.jobs.extend(jobs)
        if len(batch.jobs) >= batch.size:
            _flush(batch)
        return [job.id for job in jobs]
    return _dispatcher(jobs, options)


def dispatch_one(job: Job, *, options: Mapping[str, Any] = _NO_OPTIONS) -> JobHandle:
    """Send one job and return its handle."""
    job_id = dispatch([job], options=options)[0]
    return JobHandle(id=job_id, queue=job.queue, task=job.task, job=job)


def _flush(batch: _Batch) -> None:
    if batch.jobs:
        pending, batch.jobs = batch.jobs, []
        _dispatcher(pending, _NO_OPTIONS)


@contextlib.contextmanager
def bulk_enqueue(batch_size: int = 1000) -> Iterator[None]:
    """Collect every enqueue in the block and send them ``batch_size`` at a time.

    Each batch is one round trip per backend. If the block raises, jobs not yet sent are
    dropped, so a failed block doesn't leave half its work queued beyond what was flushed.
    Handles returned inside the block carry the jobs' own ids (a unique-key duplicate is
    resolved when the batch is sent).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be 1 or more")
    outer = _batch.get()
    if outer is not None:  # nested: join the outer batch
        yield
        return
    batch = _Batch(size=batch_size)
    token = _batch.set(batch)
    try:
        yield
    finally:
        _batch.reset(token)
    _flush(batch)
