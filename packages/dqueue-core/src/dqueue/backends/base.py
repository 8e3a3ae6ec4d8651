"""The Backend contract: what every store of jobs promises.

A backend stores job envelopes (:mod:`dqueue.job`) and hands them to workers. What differs
between backends is declared with capability flags, as in Django's Tasks framework; a command
that needs a capability the configured backend lacks fails with one clear line.

Semantics every backend keeps:

- ``enqueue`` stores a job; a job whose ``run_after`` is in the future waits until due. A job
  with a ``unique_key`` that is already taken is not stored: the id of the job holding the key
  is returned instead. A job whose id is already stored is not stored twice either, nor one
  whose id finished (acked or dead) less than ``id_retention_s`` ago: enqueue is idempotent by
  job id, so a producer that is not sure its enqueue was stored can send it again.
- ``reserve`` hands out due jobs of one queue: highest ``priority`` first, then earliest due,
  then enqueue order. It waits up to ``timeout_s`` for one, and no longer than until the
  earliest delayed job is due (no polling tick bounds delay precision). Each handed-out job
  comes back with ``attempt`` increased by one. A paused queue hands out nothing.
- On a backend with ``supports_leases`` (at-least-once), a reserved job is leased to the
  ``worker_id`` until ``now + DQUEUE_LEASE_SECONDS``; ``renew`` extends the lease, ``recover``
  puts jobs with expired leases back (or into the dead letters once ``attempt`` reached
  ``max_attempts``). A worker that lost a lease cannot settle that job any more: ``settle``
  reports it and changes nothing. On an at-most-once backend a reserved job is already gone
  from the store, and a crash loses it.
- ``settle`` applies the outcomes of finished (or returned) jobs in one round trip. What each
  outcome means is decided once, in :mod:`dqueue.backends.lifecycle`.

Inspection and control (pause, clear, dead letters, results...) are not part of what a worker
needs: a store offers them by implementing :class:`QueueControl`, which front ends detect with
``isinstance``.
"""

from __future__ import annotations

import abc
import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, Self, runtime_checkable

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import UnsupportedOperation
from ..job import Job, JobFailure
from ..settings import Settings
from .lateness import LatenessSample

__all__ = [
    "Backend",
    "DeadLetter",
    "JobResult",
    "JobStatus",
    "LatenessSample",
    "Outcome",
    "OutcomeKind",
    "QueueControl",
    "QueueCounts",
    "StoreOptions",
    "control_of",
    "percentile",
]


class OutcomeKind(enum.Enum):
    """What happened to a reserved job."""

    #: It ran and succeeded: forget it (keep its result if it asked for one).
    ACK = "ack"
    #: It failed and has attempts left: store it again, due at ``run_after``.
    RETRY = "retry"
    #: It failed for good (or can't be run): move it to the dead letters with the failure.
    DEAD = "dead"
    #: It never started (a stopping worker returns its prefetched jobs): store it again as
    #: it was before reserve, attempt not counted.
    RELEASE = "release"


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """The result of one reserved job, for :meth:`Backend.settle`."""

    job: Job
    kind: OutcomeKind
    #: The task's return value (JSON), kept when ``job.result_ttl`` is set.
    result: Any = None
    failure: JobFailure | None = None
    #: For RETRY: when the next attempt is due (epoch seconds).
    run_after: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    #: When the worker last found nothing to reserve before it reserved this job: the job was
    #: not to be had then (its queue was paused, or the job was a dead letter, or not stored
    #: yet), so lateness counts from then at the earliest, not from the due time.
    available_at: float | None = None

    @property
    def lateness_s(self) -> float | None:
        """How late the run started: start minus due time (``None`` if it never started).

        Time before :attr:`available_at` is not counted: a pause is not lateness.
        """
        if self.started_at is None:
            return None
        since = self.job.due_at
        if self.available_at is not None and self.available_at > since:
            since = self.available_at
        return max(self.started_at - since, 0.0)

    @property
    def lateness_sample(self) -> LatenessSample | None:
        """:attr:`lateness_s` with the start time, as stores keep it (``None``: never started)."""
        lateness = self.lateness_s
        if lateness is None or self.started_at is None:
            return None
        return LatenessSample(at=self.started_at, seconds=lateness)


class JobStatus(enum.Enum):
    """Where a job is in its life, as :meth:`Backend.result` reports it."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # failed a run, another attempt is scheduled
    DEAD = "dead"  # failed for good, in the dead letters
    CANCELLED = "cancelled"  # cancelled by a user (see dqueue.backends.inspection)


@dataclass(frozen=True, slots=True, kw_only=True)
class JobResult:
    """What is known of a job that asked for its result (``result_ttl``)."""

    job_id: str
    status: JobStatus
    task: str = ""
    queue: str = ""
    return_value: Any = None
    failures: tuple[JobFailure, ...] = ()
    enqueued_at: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    attempt: int = 0
    worker_ids: tuple[str, ...] = ()
    #: The job's arguments, so that a result read in another process says what ran.
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    #: The last progress its task reported (``dqueue.set_progress``), on a store that keeps it.
    progress: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeadLetter:
    """A job that failed for good, with why."""

    job: Job
    failure: JobFailure
    died_at: float
    #: The raw payload when the job could not even be decoded (``job`` is then a stand-in).
    raw: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueCounts:
    """How many jobs of one queue are in each state, and how late recent runs started."""

    queue: str
    ready: int = 0
    delayed: int = 0
    in_flight: int = 0
    dead: int = 0
    paused_until: float | None = None
    #: Lateness of recent runs with their start times, newest last; ``status`` prints
    #: percentiles of recent windows.
    recent_lateness: tuple[LatenessSample, ...] = field(default=(), repr=False)

    @property
    def total(self) -> int:
        """Jobs still to run: ready, delayed and in flight."""
        return self.ready + self.delayed + self.in_flight


def percentile(samples: Sequence[float], fraction: float) -> float | None:
    """The ``fraction`` percentile (0..1) of ``samples`` by nearest rank; ``None`` if empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    return ordered[min(max(round(fraction * (len(ordered) - 1)), 0), len(ordered) - 1)]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreOptions:
    """What a store needs to know of the settings: lease, poll, dead-letter cap, id retention."""

    #: How long a reserved job stays leased to its worker without a renewal (seconds).
    lease_s: float = 60.0
    #: The longest a waiting reserve goes without looking at the store again (seconds).
    poll_interval_s: float = 0.05
    #: Dead letters kept per queue; the oldest go first.
    dead_letter_limit: int = 10_000
    #: How long the id of a finished job (acked or dead) is remembered, so that enqueueing it
    #: again stores nothing (seconds; 0: not at all).
    id_retention_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings, **extra: Any) -> Self:
        """The options that ``settings`` give (``DQUEUE_LEASE_SECONDS`` and so on).

        ``extra`` fills the fields a subclass adds for one kind of store.
        """
        return cls(
            lease_s=settings.LEASE_SECONDS,
            poll_interval_s=settings.POLL_INTERVAL,
            dead_letter_limit=settings.DEAD_LETTER_LIMIT,
            id_retention_s=settings.ID_RETENTION,
            **extra,
        )


class Backend(abc.ABC):
    """What a worker needs of a store of jobs: store, reserve, settle, renew, recover, count.

    A backend is built once per process (per dotted path) by :meth:`from_settings`, the one
    place that reads :class:`~dqueue.settings.Settings`; its constructor takes only its own
    options. It must be safe to use from several threads of that process.
    """

    #: Jobs with a future ``run_after`` wait until due.
    supports_delay: ClassVar[bool] = True
    #: ``priority`` orders due jobs.
    supports_priority: ClassVar[bool] = False
    #: Outcomes are kept for ``result()``.
    supports_results: ClassVar[bool] = False
    #: Reserved jobs are leased (at-least-once); without it a reserved job is gone (at-most-once).
    supports_leases: ClassVar[bool] = False
    #: ``pause`` / ``resume`` work.
    supports_pause: ClassVar[bool] = True
    #: ``deduplicate`` works.
    supports_dedup: ClassVar[bool] = True
    #: Jobs may be reserved by other processes (a runner with worker processes can use it).
    supports_workers: ClassVar[bool] = True
    #: The backend runs jobs inline at enqueue (no workers needed).
    runs_inline: ClassVar[bool] = False

    def __init__(self, options: StoreOptions | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.options = options if options is not None else StoreOptions()
        self.clock = clock

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Self:
        """Build the backend that ``settings`` describe."""
        return cls(StoreOptions.from_settings(settings), clock=clock)

    @property
    def name(self) -> str:
        """The dotted path of this backend's class."""
        kind = type(self)
        return f"{kind.__module__}.{kind.__qualname__}"

    # -- producing ---------------------------------------------------------------------------

    def enqueue(self, job: Job) -> str:
        """Store ``job``; return its id, or the id of the job already holding its unique key."""
        return self.enqueue_many([job])[0]

    @abc.abstractmethod
    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Store several jobs, in one round trip where the store allows it, in order."""

    # -- consuming ---------------------------------------------------------------------------

    @abc.abstractmethod
    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        """Take up to ``limit`` due jobs of ``queue``, waiting up to ``timeout_s`` for one.

        Returns an empty list when nothing became due in time or the queue is paused.
        """

    @abc.abstractmethod
    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        """Apply outcomes of jobs reserved by ``worker_id``, in one round trip where possible.

        Returns the ids of the jobs whose lease the worker no longer held: those outcomes were
        not applied (another worker owns the job now).
        """

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        """Extend the leases of running jobs; return the ids whose lease was already lost."""
        return []

    def recover(self) -> int:
        """Put jobs whose lease ran out back on their queue (attempt counted); return how many.

        Jobs that used their last attempt go to the dead letters. Safe when many call at once.
        """
        return 0

    def store_time(self) -> float | None:
        """The store's own clock (epoch seconds), or ``None`` when it keeps this process's.

        A worker compares it with its clock at start and warns of skew (:mod:`dqueue.leases`).
        """
        return None

    # -- counting ----------------------------------------------------------------------------

    @abc.abstractmethod
    def counts(self, queue: str) -> QueueCounts:
        """How many jobs of ``queue`` are ready, delayed, in flight and dead."""

    def length(self, queue: str) -> int:
        """Jobs waiting in ``queue`` (ready and delayed), as django-lightweight-queue had it."""
        counts = self.counts(queue)
        return counts.ready + counts.delayed

    def location(self, queue: str) -> str | None:
        """Where the store keeps ``queue``, when that differs per queue; ``None`` otherwise.

        A Redis Cluster names the node holding the queue's slot; status output shows it.
        """
        return None

    def health_warnings(self) -> list[str]:
        """What puts this store's jobs at risk, as sentences for people; ``[]`` when nothing does.

        Workers and runners log them at start-up; status output and ``/healthz`` show them.

        Raises:
            ConfigurationError: a risk that jobs must not run with (the message says the
                fix): a worker or runner refuses to start, status shows it as a warning.
        """
        return []

    def ping(self) -> None:  # noqa: B027 - optional
        """Raise :class:`~dqueue.errors.BackendUnavailable` when the store cannot be reached."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections and files."""


@runtime_checkable
class QueueControl(Protocol):
    """Inspection and control of queues, offered by the stores that keep them.

    Front ends (the ``dqueue`` CLI, the Django commands and admin) detect it with
    ``isinstance(backend, QueueControl)``.
    """

    def queues(self) -> list[str]:
        """Every queue that holds or held jobs (sorted)."""

    def pause(self, queue: str, until: float | None) -> None:
        """Stop handing out jobs of ``queue`` until ``until`` (epoch seconds; ``None``: resume)."""

    def resume(self, queue: str) -> None:
        """Hand out jobs of ``queue`` again."""

    def paused_until(self, queue: str) -> float | None:
        """When the pause of ``queue`` ends, or ``None`` when it is not paused."""

    def clear(self, queue: str, *, limit: int | None = None) -> int:
        """Delete every ready and delayed job of ``queue``; return how many.

        ``limit``: delete at most that many (fewer only once none is left), so that a caller
        clears a big queue in batches, reports progress between them, and no one store call
        holds the store for long.
        """

    def deduplicate(self, queue: str) -> tuple[int, int]:
        """Remove waiting jobs of ``queue`` identical (task, args, kwargs) to an older one.

        Returns the number of waiting jobs before and after.
        """

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """The newest dead letters of ``queue``, newest first."""

    def retry_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Put dead letters (all, or those ids) back on their queue with fresh attempts."""

    def purge_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Delete dead letters (all, or those ids); return how many."""

    def result(self, job_id: str) -> JobResult | None:
        """What is known of a job that asked for its result; ``None`` if nothing is."""


def control_of(backend: Backend) -> QueueControl:
    """``backend`` as :class:`QueueControl`.

    Raises:
        UnsupportedOperation: the backend offers no inspection or control of its queues.
    """
    if not isinstance(backend, QueueControl):
        raise UnsupportedOperation(f"{backend.name} keeps no queues to inspect or control")
    return backend
