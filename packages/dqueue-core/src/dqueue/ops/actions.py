"""What changes a queue: pause, resume, clear, deduplicate, and retrying or purging dead letters.

Every action takes the effective settings and a queue name, and refuses with one clear error
what the queue's backend cannot do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from ..backends import Backend, get_backend
from ..backends.base import control_of
from ..clock import to_datetime, to_epoch
from ..errors import JobNotFound, UnsupportedOperation
from ..settings import Settings
from .durations import UNTIL_RESUMED, parse_duration, parse_until

__all__ = [
    "DeadLetterChange",
    "Deduplicated",
    "Paused",
    "clear",
    "deduplicate",
    "pause",
    "purge_dead",
    "resume",
    "retry_dead",
]


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


def clear(settings: Settings, queue: str) -> int:
    """Delete every waiting (ready and delayed) job of ``queue``; return how many."""
    return control_of(_backend(settings, queue, "clear")).clear(queue)


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


def retry_dead(settings: Settings, queue: str, job_ids: Sequence[str] | None) -> DeadLetterChange:
    """Put dead letters of ``queue`` (those ids, or all with ``None``) back, fresh attempts."""
    ids = _ids(job_ids)
    count = control_of(get_backend(queue, settings=settings)).retry_dead(queue, ids)
    return DeadLetterChange(queue, "requeued", count, ids)


def purge_dead(settings: Settings, queue: str, job_ids: Sequence[str] | None) -> DeadLetterChange:
    """Delete dead letters of ``queue`` (those ids, or all with ``None``)."""
    ids = _ids(job_ids)
    count = control_of(get_backend(queue, settings=settings)).purge_dead(queue, ids)
    return DeadLetterChange(queue, "purged", count, ids)
