"""What a queue holds: its status, its dead letters, and one line for why a job failed."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from ..backends import backend_class, get_backend
from ..backends.base import Backend, DeadLetter, control_of, percentile
from ..backends.lateness import window
from ..clock import to_datetime
from ..errors import ConfigurationError
from ..job import JobFailure
from ..settings import Settings
from .durations import until_resumed
from .workers import live_workers, unserved

__all__ = [
    "QueueStatus",
    "SQLiteFile",
    "dead_letter_data",
    "dead_letters",
    "failure_summary",
    "queue_status",
    "raw_preview",
    "sqlite_file",
    "store_warnings",
]


#: How much of a payload that could not be decoded listings show, in characters.
RAW_PREVIEW_CHARS = 2000
#: The windows of recent runs whose lateness ``status`` shows (seconds): a pause an hour ago,
#: or a slow spell yesterday, does not colour today's numbers.
RECENT_S = 300.0
HOUR_S = 3600.0


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueStatus:
    """One queue: its backend's dotted path, jobs per state, its pause and recent lateness.

    ``lateness_*`` cover the runs started in the last 5 minutes, ``lateness_1h_*`` those of the
    last hour (percentiles in milliseconds, ``None`` without a run).
    """

    queue: str
    backend: str
    ready: int
    delayed: int
    in_flight: int
    dead: int
    paused_until: datetime | None
    lateness_p50_ms: float | None
    lateness_p99_ms: float | None
    lateness_samples: int
    lateness_1h_p50_ms: float | None
    lateness_1h_p99_ms: float | None
    lateness_1h_samples: int
    #: What puts the jobs of the queue's store at risk (:func:`store_warnings`).
    warnings: tuple[str, ...] = ()
    #: Paused without an end: ``paused_until`` is a century away and is shown as "until resumed".
    paused_indefinitely: bool = False
    #: Where the store keeps the queue, when it says (``Backend.location``: a cluster's node).
    location: str | None = None
    #: Workers the pool gives the queue (``None``: the front end did not say).
    workers: int | None = None
    #: Workers of the queue alive now (``None``: its store keeps no record of workers).
    live_workers: int | None = None

    @property
    def no_live_worker(self) -> bool:
        """Jobs are ready and no worker is known to be alive to run them."""
        return unserved(self.ready, self.live_workers)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, as ``status --json`` prints it (the pause as ISO 8601, to the second)."""
        data = asdict(self)
        until = self.paused_until
        data["paused_until"] = None if until is None else until.isoformat(timespec="seconds")
        data["warnings"] = list(self.warnings)
        data["no_live_worker"] = self.no_live_worker
        return data


def queue_status(
    settings: Settings, queues: Iterable[str], *, pool: Mapping[str, int] | None = None
) -> list[QueueStatus]:
    """The status of each of ``queues``, in that order, as their backends count them.

    ``pool``: the workers the pool gives each queue (:func:`dqueue.pool.queue_counts`), shown
    beside the live ones.
    """
    queues = list(queues)
    listing = live_workers(settings, queues)
    found = []
    warned: dict[int, tuple[str, ...]] = {}  # one look per backend
    for queue in queues:
        backend = get_backend(queue, settings=settings)
        counts = backend.counts(queue)
        if id(backend) not in warned:
            warned[id(backend)] = tuple(store_warnings(backend))
        now = backend.clock.time()
        recent = window(counts.recent_lateness, now=now, seconds=RECENT_S)
        hour = window(counts.recent_lateness, now=now, seconds=HOUR_S)
        until = counts.paused_until
        found.append(
            QueueStatus(
                queue=queue,
                backend=settings.backend_path(queue),
                ready=counts.ready,
                delayed=counts.delayed,
                in_flight=counts.in_flight,
                dead=counts.dead,
                paused_until=None if until is None else to_datetime(until),
                lateness_p50_ms=_ms(percentile(recent, 0.5)),
                lateness_p99_ms=_ms(percentile(recent, 0.99)),
                lateness_samples=len(recent),
                lateness_1h_p50_ms=_ms(percentile(hour, 0.5)),
                lateness_1h_p99_ms=_ms(percentile(hour, 0.99)),
                lateness_1h_samples=len(hour),
                warnings=warned[id(backend)],
                paused_indefinitely=until is not None
                and until_resumed(to_datetime(until), to_datetime(backend.clock.time())),
                location=backend.location(queue),
                workers=None if pool is None else pool.get(queue, 0),
                live_workers=listing.live(queue),
            )
        )
    return found


@dataclass(frozen=True, slots=True)
class SQLiteFile:
    """The SQLite file some queues use, absolute, and how a relative setting was resolved."""

    path: str
    notes: tuple[str, ...]


def sqlite_file(settings: Settings, queues: Iterable[str]) -> SQLiteFile | None:
    """The file of the SQLite backend when one of ``queues`` (none: ``DQUEUE_BACKEND``) is on it."""
    from ..backends.sqlite import SQLiteBackend  # only the class, to compare

    paths = {settings.backend_path(queue) for queue in queues} or {settings.BACKEND}
    if not any(issubclass(backend_class(path), SQLiteBackend) for path in paths):
        return None
    return SQLiteFile(settings.SQLITE_PATH, settings.path_notes)


def store_warnings(backend: Backend) -> list[str]:
    """What puts ``backend``'s jobs at risk (``Backend.health_warnings``), a refusal included."""
    try:
        return backend.health_warnings()
    except ConfigurationError as exc:
        return [str(exc)]


def dead_letters(settings: Settings, queue: str, *, limit: int) -> list[DeadLetter]:
    """The newest ``limit`` dead letters of ``queue``, newest first.

    Raises:
        UnsupportedOperation: the queue's backend keeps no dead letters.
    """
    return control_of(get_backend(queue, settings=settings)).dead_letters(queue, limit=limit)


def raw_preview(raw: str) -> str:
    """A payload that could not be decoded, as listings show it: safe to print anywhere.

    Control characters, lone surrogates and backslashes are escaped as ``repr`` does (so a
    newline cannot forge a line and no terminal escape runs), and only the first
    :data:`RAW_PREVIEW_CHARS` are shown, followed by how many were left out.
    """
    shown = repr(raw[:RAW_PREVIEW_CHARS])[1:-1]
    rest = len(raw) - RAW_PREVIEW_CHARS
    return f"{shown}... ({rest} more characters)" if rest > 0 else shown


def dead_letter_data(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter as JSON-ready data, with its failure and raw payload (a safe preview)."""
    died_at = to_datetime(letter.died_at).isoformat(timespec="seconds")
    return {
        "id": letter.job.id,
        "task": letter.job.task,
        "queue": letter.job.queue,
        "attempt": letter.job.attempt,
        "max_attempts": letter.job.max_attempts,
        "died_at": died_at,
        "failure": letter.failure.to_dict(),
        "args": list(letter.job.args),
        "kwargs": dict(letter.job.kwargs),
        "raw": None if letter.raw is None else raw_preview(letter.raw),
    }


def failure_summary(failure: JobFailure) -> str:
    """One line: the exception's class name and the first line of its message."""
    kind = failure.exception_type.rsplit(".", 1)[-1]
    first_line = (failure.message.splitlines() or [""])[0]
    return f"{kind}: {first_line}" if first_line else kind
