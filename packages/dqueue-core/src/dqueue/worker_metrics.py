"""A worker's Prometheus metrics: what it ran, how long it took, how late it started.

The runner starts worker *i* (1-based, in this machine's slot list) with a metrics port of
``DQUEUE_PROMETHEUS_START_PORT + i`` when ``DQUEUE_ENABLE_PROMETHEUS`` is on; the worker then
serves ``/metrics`` there:

- ``dqueue_jobs_total{queue,task,outcome}``: jobs settled in the store, ``outcome`` one of
  ``succeeded``, ``retried``, ``dead``, ``released`` (prefetched, returned unstarted) and
  ``lease_lost`` (its lease ran out first; another worker owns it now). Counted when the store
  accepts the outcome, so a worker that dies before settling counts nothing it didn't record.
- ``dqueue_job_duration_seconds{queue}`` and ``dqueue_job_lateness_seconds{queue}``: histograms
  of run time and of start minus due time.
- ``dqueue_worker_busy{queue}``: 1 while a job runs.
- ``dqueue_store_errors_total{queue,operation}``: failed ``reserve``, ``settle``, ``renew`` and
  ``recover`` calls.

Only task *names* become labels (never arguments), and at most :data:`TASK_LABEL_LIMIT` of
them: later names are counted as ``task="other"``. A worker without metrics (``metrics=None``)
pays one ``is None`` test per job.
"""

from __future__ import annotations

import contextlib
import threading
from bisect import bisect_left
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Final

from .backends.base import Outcome, OutcomeKind
from .metrics import (
    DURATION_BUCKETS,
    LATENESS_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    LabelCap,
    render,
)
from .settings import Settings

if TYPE_CHECKING:
    # The HTTP server is imported when metrics are served: a worker without them stays small.
    from .exposition import Route

__all__ = ["STORE_OPERATIONS", "TASK_LABEL_LIMIT", "WorkerMetrics", "worker_metrics_served"]

#: Distinct task names a worker labels its counters with; the rest count as ``other``.
TASK_LABEL_LIMIT: Final = 500
#: The store calls whose failures ``dqueue_store_errors_total`` counts.
STORE_OPERATIONS: Final = ("reserve", "settle", "renew", "recover")

_OUTCOME_LABELS: Final = {
    OutcomeKind.ACK: "succeeded",
    OutcomeKind.RETRY: "retried",
    OutcomeKind.DEAD: "dead",
    OutcomeKind.RELEASE: "released",
}
_LEASE_LOST: Final = "lease_lost"
_ACK: Final = OutcomeKind.ACK


class WorkerMetrics:
    """The metrics of one worker serving ``queue``; the :class:`~dqueue.worker.Worker` feeds it.

    The per-job methods (:meth:`job_started`, :meth:`job_finished`, :meth:`settled`) are called
    by the one thread that runs and settles jobs, and take no lock; :meth:`store_error` is
    called from the lease thread too, and takes one (store errors are rare).
    """

    def __init__(self, queue: str, *, task_label_limit: int = TASK_LABEL_LIMIT) -> None:
        self.queue = queue
        self._queue_labels = (queue,)
        self.jobs = Counter(
            "dqueue_jobs_total",
            "Jobs this worker settled in the store, by task and outcome.",
            ("queue", "task", "outcome"),
        )
        self.durations = Histogram(
            "dqueue_job_duration_seconds",
            "Seconds each job ran.",
            ("queue",),
            DURATION_BUCKETS,
        )
        self.lateness = Histogram(
            "dqueue_job_lateness_seconds",
            "Seconds between when each job was due and when it started.",
            ("queue",),
            LATENESS_BUCKETS,
        )
        self.busy = Gauge("dqueue_worker_busy", "1 while this worker runs a job.", ("queue",))
        self.store_errors = Counter(
            "dqueue_store_errors_total",
            "Store calls of this worker that failed, by operation.",
            ("queue", "operation"),
        )
        self._duration_buckets = self.durations.child(self._queue_labels)
        self._lateness_buckets = self.lateness.child(self._queue_labels)
        self.busy.set(self._queue_labels, 0)
        self._busy_values = self.busy.values
        for operation in STORE_OPERATIONS:
            # Present from the start, so that rate() sees the first error.
            self.store_errors.inc((queue, operation), 0)
        self._task_label = LabelCap(task_label_limit)
        self._errors_lock = threading.Lock()

    # -- the hot path --------------------------------------------------------------------------

    # These run once per job: plain arithmetic and local names, no method calls per bucket.

    def job_started(self) -> None:
        """A job starts running."""
        self._busy_values[self._queue_labels] = 1

    def job_finished(self, outcome: Outcome) -> None:
        """A job ran (whatever its outcome): record its duration and lateness."""
        self._busy_values[self._queue_labels] = 0
        started = outcome.started_at
        if started is None:
            return
        finished = outcome.finished_at
        if finished is not None:
            took = finished - started
            if took < 0.0:
                took = 0.0
            buckets = self._duration_buckets
            buckets.counts[bisect_left(buckets.bounds, took)] += 1
            buckets.sum += took
        late = started - outcome.job.due_at
        if late < 0.0:
            late = 0.0
        buckets = self._lateness_buckets
        buckets.counts[bisect_left(buckets.bounds, late)] += 1
        buckets.sum += late

    def settled(
        self,
        outcomes: Sequence[Outcome],
        lost_ids: Collection[str] = (),
        dropped: Sequence[Outcome] = (),
    ) -> None:
        """The store accepted ``outcomes`` except ``lost_ids``; ``dropped`` were never sent.

        Lost and dropped outcomes count as ``lease_lost``: their job belongs to another worker.
        """
        values = self.jobs.values
        queue = self.queue
        task_label = self._task_label
        known = task_label.seen
        for outcome in outcomes:
            job = outcome.job
            kind = outcome.kind
            # Identity tests: an Enum's __hash__ is python code, too slow for a dict lookup here.
            if lost_ids and job.id in lost_ids:
                label = _LEASE_LOST
            elif kind is _ACK:
                label = "succeeded"
            else:
                label = _OUTCOME_LABELS[kind]
            task = job.task
            key = (queue, task if task in known else task_label(task), label)
            values[key] = values.get(key, 0) + 1
        for outcome in dropped:
            key = (queue, task_label(outcome.job.task), _LEASE_LOST)
            values[key] = values.get(key, 0) + 1

    # -- the rest ------------------------------------------------------------------------------

    def store_error(self, operation: str) -> None:
        """A store call (one of :data:`STORE_OPERATIONS`) failed."""
        with self._errors_lock:
            self.store_errors.inc((self.queue, operation))

    def render(self) -> str:
        """Every metric in the text exposition format."""
        return render([self.jobs, self.durations, self.lateness, self.busy, self.store_errors])

    def routes(self) -> dict[str, Route]:
        """The worker's endpoints: ``/metrics``."""
        from .exposition import Response

        return {"/metrics": lambda: Response.metrics(self.render())}


@contextlib.contextmanager
def worker_metrics_served(
    settings: Settings, queue: str, slot: int, port: int | None
) -> Iterator[WorkerMetrics | None]:
    """Serve a worker's ``/metrics`` on ``port`` for the block; yield its metrics.

    Yields ``None`` (the worker runs without metrics, at no cost) when ``port`` is ``None``, or
    when the port can't be bound (logged once as an error).
    """
    if port is None:
        yield None
        return
    from .exposition import start_server

    metrics = WorkerMetrics(queue)
    server = start_server(
        settings.PROMETHEUS_ADDRESS, port, metrics.routes(), what=f"worker {queue}/{slot} metrics"
    )
    if server is None:
        yield None
        return
    try:
        yield metrics
    finally:
        server.close()
