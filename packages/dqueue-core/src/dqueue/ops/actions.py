"""What changes a queue: pause, resume, clear, deduplicate, and retrying or purging dead letters.

Every action takes the effective settings and a queue name, and refuses with one clear error
what the queue's backend cannot do. Clearing a queue, and retrying or purging all of its dead
letters, go in batches of :data:`BATCH` (the latter when the store lists single jobs), so that
a front end can show progress and no single store call (a Redis script) holds the store for a
million jobs.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from ..backends import Backend, get_backend
from ..backends.base import control_of
from ..backends.inspection import JobPage, JobState, inspection_of
from ..clock import to_datetime, to_epoch
from ..errors import JobNotFound, UnsupportedOperation
from ..settings import Settings
from .durations import UNTIL_RESUMED, parse_duration, parse_until

__all__ = [
    "BATCH",
    "DeadLetterChange",
    "Deduplicated",
    "Paused",
    "ProgressReport",
    "clear",
    "deduplicate",
    "pause",
    "purge_dead",
    "resume",
    "retry_dead",
]

#: How many dead letters one store call retries or purges when all of a queue's are.
BATCH = 1000

#: Told ``(done, total)`` after each batch of a long operation.
ProgressReport = Callable[[int, int], object]


def _backend(settings: Settings, queue: str, verb: str) -> Backend:
    """The backend of ``queue``, refused when its capability flags rule ``verb`` out."""
    backend = get_backend(queue, settings=settings)
    able = {
        "pause": backend.supports_pause,
        "resume": backend.supports_pause,
        "deduplicate": backend.supports_dedup,
    }.get(verb, True)
    if not able:
        raise UnsupportedOperation(f"the backend of queue {queue!r} ({backend.name}) cannot {verb}")
    return backend


@dataclass(frozen=True, slots=True)
class Paused:
    """A pause: until when (UTC), and whether it was asked without an end (until resumed)."""

    queue: str
    until: datetime
    indefinitely: bool = False


def pause(
    settings: Settings,
    queue: str,
    *,
    duration: str | None = None,
    until: str | None = None,
    default_tz: tzinfo | None = None,
) -> Paused:
    """Pause ``queue`` for a ``duration`` (``1h30m``), until a time (ISO 8601), or until resumed.

    Raises:
        InvalidTime: the duration or the time cannot be read, or the time is past.
        UnsupportedOperation: the queue's backend cannot pause.
    """
    backend = _backend(settings, queue, "pause")
    now = to_datetime(backend.clock.time())
    if until is not None:
        end = parse_until(until, now=now, default_tz=default_tz)
    elif duration is not None:
        end = now + parse_duration(duration)
    else:
        end = now + UNTIL_RESUMED
    control_of(backend).pause(queue, to_epoch(end))
    return Paused(queue, end.astimezone(UTC), indefinitely=until is None and duration is None)


def resume(settings: Settings, queue: str) -> None:
    """Hand out the jobs of ``queue`` again.

    Raises:
        UnsupportedOperation: the queue's backend cannot pause.
    """
    control_of(_backend(settings, queue, "resume")).resume(queue)


def clear(settings: Settings, queue: str, *, progress: ProgressReport | None = None) -> int:
    """Delete every waiting (ready and delayed) job of ``queue``; return how many.

    The jobs go :data:`BATCH` a store call; ``progress`` is told ``(done, total)`` after each,
    the total being the waiting jobs counted at the start (or those done, if more came).
    """
    backend = _backend(settings, queue, "clear")
    control = control_of(backend)
    counts = backend.counts(queue)
    total = counts.ready + counts.delayed
    done = 0
    while True:
        cleared = control.clear(queue, limit=BATCH)
        done += cleared
        if progress is not None:
            progress(done, max(total, done))
        if cleared < BATCH:  # nothing waits any more
            return done


@dataclass(frozen=True, slots=True)
class Deduplicated:
    """How many jobs waited in a queue before and after deduplication."""

    queue: str
    before: int
    after: int


def deduplicate(settings: Settings, queue: str) -> Deduplicated:
    """Remove waiting jobs identical (task and arguments) to an older waiting job.

    Raises:
        UnsupportedOperation: the queue's backend cannot deduplicate.
    """
    before, after = control_of(_backend(settings, queue, "deduplicate")).deduplicate(queue)
    return Deduplicated(queue, before, after)


@dataclass(frozen=True, slots=True)
class DeadLetterChange:
    """Dead letters put back or deleted: how many, out of which ids (``None``: all)."""

    queue: str
    action: str
    count: int
    job_ids: tuple[str, ...] | None

    def check_all_found(self, *, see: str) -> None:
        """Refuse ids that were no dead letters (a typo, another queue); ``see`` lists them.

        Raises:
            JobNotFound: some of the ids were no dead letters of the queue.
        """
        ids = self.job_ids
        if ids is None or self.count >= len(ids):
            return
        if self.count == 0:
            raise JobNotFound(
                f"no dead letter of queue {self.queue!r} has the id(s) {', '.join(ids)} "
                f"(see '{see}')"
            )
        raise JobNotFound(
            f"{len(ids) - self.count} of the {len(ids)} job id(s) are not dead letters of "
            f"queue {self.queue!r}; the other {self.count} were {self.action}"
        )


def _ids(job_ids: Sequence[str] | None) -> tuple[str, ...] | None:
    # Each id once: a repeated id would count as missing the second time.
    return None if job_ids is None else tuple(dict.fromkeys(job_ids))


def _every_dead_letter(
    backend: Backend,
    queue: str,
    act: Callable[[Sequence[str] | None], int],
    progress: ProgressReport | None,
) -> int:
    """``act`` on the dead letters of ``queue`` a page of :data:`BATCH` at a time; how many.

    Pages are read from a cursor, newest first, so letters that die meanwhile are not taken
    (the total counted at the start stays true). A store that lists no single jobs gets one
    call for them all.
    """
    try:
        pages = inspection_of(backend)
    except UnsupportedOperation:
        count = act(None)
        if progress is not None:
            progress(count, count)
        return count
    total = backend.counts(queue).dead
    done = 0
    page = pages.jobs(queue, JobState.DEAD, limit=BATCH)
    while page.views:
        # The next page is read while this one's letters are still there: a cursor whose
        # letter is gone may not find its place among letters that died at the same time.
        following = (
            pages.jobs(queue, JobState.DEAD, limit=BATCH, cursor=page.cursor)
            if page.cursor is not None
            else JobPage([])
        )
        done += act([view.job.id for view in page.views])
        if progress is not None:
            progress(done, max(total, done))
        page = following
    return done


def retry_dead(
    settings: Settings,
    queue: str,
    job_ids: Sequence[str] | None,
    *,
    progress: ProgressReport | None = None,
) -> DeadLetterChange:
    """Put dead letters of ``queue`` (those ids, or all with ``None``) back, fresh attempts.

    ``progress`` is told ``(done, total)`` after each batch of all of them.
    """
    ids = _ids(job_ids)
    backend = get_backend(queue, settings=settings)
    control = control_of(backend)
    if ids is not None:
        return DeadLetterChange(queue, "requeued", control.retry_dead(queue, ids), ids)
    count = _every_dead_letter(
        backend, queue, lambda batch: control.retry_dead(queue, batch), progress
    )
    return DeadLetterChange(queue, "requeued", count, None)


def purge_dead(
    settings: Settings,
    queue: str,
    job_ids: Sequence[str] | None,
    *,
    progress: ProgressReport | None = None,
) -> DeadLetterChange:
    """Delete dead letters of ``queue`` (those ids, or all with ``None``).

    ``progress`` is told ``(done, total)`` after each batch of all of them.
    """
    ids = _ids(job_ids)
    backend = get_backend(queue, settings=settings)
    control = control_of(backend)
    if ids is not None:
        return DeadLetterChange(queue, "purged", control.purge_dead(queue, ids), ids)
    count = _every_dead_letter(
        backend, queue, lambda batch: control.purge_dead(queue, batch), progress
    )
    # Letters listed under a stand-in id (a payload that does not decode) and those that died
    # meanwhile: "all" means all; what is left is few, so one call takes it.
    count += control.purge_dead(queue, None)
    return DeadLetterChange(queue, "purged", count, None)
