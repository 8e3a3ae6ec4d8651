"""A worker's Prometheus metrics: what it ran, how long it took, how late it started.

Needs ``prometheus_client`` (``pip install 'dqueue-core[prometheus]'``), imported only once
metrics are asked for. A worker given a metrics port serves
(:func:`dqueue.exposition.worker_metrics_served`):

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
them: later names are counted as ``task="other"``.

:class:`WorkerMetrics` is a worker hook and a ``prometheus_client`` collector. It counts in plain
ints and lists on the job path (``prometheus_client``'s own metrics take a lock per update,
several times the cost per job: ``bench/bench_metrics.py``) and builds the metric families
when scraped, from copies taken in one C call each, so a scrape never sees a dict change size.
"""

from __future__ import annotations

import threading
from bisect import bisect_left
from collections.abc import Collection, Iterator, Sequence
from typing import TYPE_CHECKING, Final

from .backends.base import Outcome, OutcomeKind
from .exposition import require_prometheus
from .hooks import WorkerHooks
from .job import Job

if TYPE_CHECKING:
    from prometheus_client.core import HistogramMetricFamily, Metric

__all__ = [
    "DURATION_BUCKETS",
    "LATENESS_BUCKETS",
    "STORE_OPERATIONS",
    "TASK_LABEL_LIMIT",
    "LabelCap",
    "WorkerMetrics",
]

_SUBSECOND: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
#: Job run times: 1 ms to 10 minutes.
DURATION_BUCKETS: Final = (*_SUBSECOND, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: How late jobs start (start minus due time): 1 ms to an hour, since a backlog grows large.
LATENESS_BUCKETS: Final = (*DURATION_BUCKETS, 1800.0, 3600.0)
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


class LabelCap:
    """Keeps a label's distinct values under ``limit``: later new values become ``other``.

    Each label value is a time series in Prometheus; a task name per job is fine, but a
    program that registers tasks dynamically must not blow up the server.
    """

    __slots__ = ("limit", "other", "seen")

    def __init__(self, limit: int = TASK_LABEL_LIMIT, other: str = "other") -> None:
        self.limit = limit
        self.other = other
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        """``value`` itself if it is known or there is room for it, else ``other``."""
        seen = self.seen
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        return self.other


def _histogram(
    name: str, help_text: str, queue: str, bounds: Sequence[float], counts: list[int], total: float
) -> HistogramMetricFamily:
    """A histogram of ``queue`` from per-bucket (not cumulative) ``counts``, +Inf last."""
    from prometheus_client.core import HistogramMetricFamily

    family = HistogramMetricFamily(name, help_text, labels=["queue"])
    cumulative, buckets = 0, []
    for bound, count in zip((*bounds, float("inf")), counts, strict=True):
        cumulative += count
        # As prometheus_client writes a bound: 0.005, 1.0, +Inf.
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), float(cumulative)))
    family.add_metric([queue], buckets, total)
    return family


class WorkerMetrics(WorkerHooks):
    """The metrics of one worker serving ``queue``; attach it to the worker as a hook.

    ``registry`` holds it alone (serve that); :meth:`render` gives the text a scrape gets.

    Raises:
        ConfigurationError: ``prometheus_client`` is not installed.
    """

    def __init__(self, queue: str, *, task_label_limit: int = TASK_LABEL_LIMIT) -> None:
        self.queue = queue
        self.busy = 0
        self.jobs: dict[tuple[str, str], int] = {}  # (task, outcome) -> count
        self.store_errors = dict.fromkeys(STORE_OPERATIONS, 0)
        # Per bucket, +Inf last; then the sum.
        self._durations = [0] * (len(DURATION_BUCKETS) + 1)
        self._durations_sum = 0.0
        self._lateness = [0] * (len(LATENESS_BUCKETS) + 1)
        self._lateness_sum = 0.0
        self._task_label = LabelCap(task_label_limit)
        self._errors_lock = threading.Lock()  # store errors come from the lease thread too
        require_prometheus()
        from prometheus_client.registry import CollectorRegistry

        self.registry = CollectorRegistry()
        self.registry.register(self)

    # -- the hot path: plain arithmetic and local names, once per job -------------------------

    def job_started(self, job: Job) -> None:
        """A job starts running."""
        self.busy = 1

    def job_finished(self, outcome: Outcome) -> None:
        """A job ran (whatever its outcome): record its duration and lateness."""
        self.busy = 0
        started = outcome.started_at
        if started is None:
            return
        finished = outcome.finished_at
        if finished is not None:
            took = max(finished - started, 0.0)
            self._durations[bisect_left(DURATION_BUCKETS, took)] += 1
            self._durations_sum += took
        late = max(started - outcome.job.due_at, 0.0)
        self._lateness[bisect_left(LATENESS_BUCKETS, late)] += 1
        self._lateness_sum += late

    def settled(
        self,
        outcomes: Sequence[Outcome],
        lost_ids: Collection[str] = (),
        dropped: Sequence[Outcome] = (),
    ) -> None:
        """Count settled outcomes; lost and dropped ones as ``lease_lost``."""
        jobs = self.jobs
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
            key = (task if task in known else task_label(task), label)
            jobs[key] = jobs.get(key, 0) + 1
        for outcome in dropped:
            key = (task_label(outcome.job.task), _LEASE_LOST)
            jobs[key] = jobs.get(key, 0) + 1

    def store_error(self, operation: str) -> None:
        """A store call (one of :data:`STORE_OPERATIONS`) failed."""
        with self._errors_lock:
            self.store_errors[operation] = self.store_errors.get(operation, 0) + 1

    # -- scraping -------------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """The metric families, for ``prometheus_client``."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        queue = self.queue
        jobs = CounterMetricFamily(
            "dqueue_jobs_total",
            "Jobs this worker settled in the store, by task and outcome.",
            labels=["queue", "task", "outcome"],
        )
        for (task, outcome), count in self.jobs.copy().items():
            jobs.add_metric([queue, task, outcome], count)
        yield jobs
        yield _histogram(
            "dqueue_job_duration_seconds",
            "Seconds each job ran.",
            queue,
            DURATION_BUCKETS,
            self._durations.copy(),
            self._durations_sum,
        )
        yield _histogram(
            "dqueue_job_lateness_seconds",
            "Seconds between when each job was due and when it started.",
            queue,
            LATENESS_BUCKETS,
            self._lateness.copy(),
            self._lateness_sum,
        )
        busy = GaugeMetricFamily(
            "dqueue_worker_busy", "1 while this worker runs a job.", labels=["queue"]
        )
        busy.add_metric([queue], self.busy)
        yield busy
        errors = CounterMetricFamily(
            "dqueue_store_errors_total",
            "Store calls of this worker that failed, by operation.",
            labels=["queue", "operation"],
        )
        for operation, count in self.store_errors.copy().items():
            errors.add_metric([queue, operation], count)
        yield errors

    def render(self) -> str:
        """Every metric in the text exposition format (what ``/metrics`` answers)."""
        from prometheus_client.exposition import generate_latest

        return generate_latest(self.registry).decode()
