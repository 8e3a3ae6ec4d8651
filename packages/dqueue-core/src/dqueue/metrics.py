"""Prometheus metrics: a worker's counters and the HTTP endpoints that serve them.

Needs ``prometheus_client`` (``pip install 'dqueue-core[prometheus]'``), imported only once
metrics are asked for; :func:`own_registry` says what to install when it is missing. The
metric names, labels and ports are listed in the README ("Metrics and health").

:class:`WorkerMetrics` is a worker hook and a ``prometheus_client`` collector: it counts in plain
ints on the job path (``prometheus_client``'s own metrics take a lock per update, several times
the cost per job: ``bench/bench_metrics.py``) and builds the metric families when scraped, from
copies taken in one C call each, so that a scrape never sees a dict change size.

The endpoints are served by :mod:`http.server` (``prometheus_client``'s own server answers
every path with metrics, so it can't serve ``/worker_config`` and ``/healthz`` beside them).
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import threading
from bisect import bisect_left
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from .backends.base import Outcome, OutcomeKind
from .errors import ConfigurationError
from .hooks import WorkerHooks
from .job import Job
from .settings import Settings
from .threads import BackgroundThread

if TYPE_CHECKING:
    from prometheus_client.core import Metric
    from prometheus_client.registry import Collector, CollectorRegistry

__all__ = ["LabelCap", "Response", "WorkerMetrics", "serve", "worker_metrics_served"]

_logger = logging.getLogger("dqueue.metrics")

_SUBSECOND: Final = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5)
#: Job run times: 1 ms to 10 minutes.
DURATION_BUCKETS: Final = (*_SUBSECOND, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
#: How late jobs start (start minus due time): 1 ms to an hour, since a backlog grows large.
LATENESS_BUCKETS: Final = (*DURATION_BUCKETS, 1800.0, 3600.0)
#: The store calls whose failures ``dqueue_store_errors_total`` counts.
STORE_OPERATIONS: Final = ("reserve", "settle", "renew", "recover", "beat")
_OUTCOME_LABELS: Final = {
    OutcomeKind.ACK: "succeeded",
    OutcomeKind.RETRY: "retried",
    OutcomeKind.DEAD: "dead",
    OutcomeKind.RELEASE: "released",
}
_ACK: Final = OutcomeKind.ACK
_TEXT_FORMAT: Final = "text/plain; version=0.0.4; charset=utf-8"


def own_registry(collector: Collector) -> CollectorRegistry:
    """A registry holding ``collector`` alone.

    Raises:
        ConfigurationError: ``prometheus_client`` is not installed (the message names the extra).
    """
    try:
        from prometheus_client import CollectorRegistry
    except ImportError as exc:
        raise ConfigurationError(
            "Prometheus metrics (DQUEUE_ENABLE_PROMETHEUS, --metrics-port) need prometheus_client:"
            " pip install 'dqueue-core[prometheus]'"
        ) from exc
    registry = CollectorRegistry()
    registry.register(collector)
    return registry


class LabelCap:
    """Keeps a label's distinct values under ``limit``: later new values become ``other``.

    Each label value is a time series in Prometheus; a task name per job is fine, but a
    program that registers tasks dynamically must not blow up the server.
    """

    __slots__ = ("limit", "seen")

    def __init__(self, limit: int = 500) -> None:
        self.limit = limit
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        """``value`` itself if it is known or there is room for it, else ``"other"``."""
        if value in self.seen or len(self.seen) < self.limit:
            self.seen.add(value)
            return value
        return "other"


class WorkerMetrics(WorkerHooks):
    """The metrics of one worker serving ``queue``; attach it to the worker as a hook.

    ``registry`` holds it alone; :meth:`render` gives the text a scrape of ``/metrics`` gets.
    Only task *names* become labels, at most ``task_label_limit`` of them (then ``other``).

    Raises:
        ConfigurationError: ``prometheus_client`` is not installed.
    """

    def __init__(self, queue: str, *, task_label_limit: int = 500) -> None:
        self.queue = queue
        self.busy = 0
        self.jobs: dict[tuple[str, str], int] = {}  # (task, outcome) -> count
        self.store_errors = dict.fromkeys(STORE_OPERATIONS, 0)
        # Per bucket (not cumulative), +Inf last.
        self._durations = [0] * (len(DURATION_BUCKETS) + 1)
        self._lateness = [0] * (len(LATENESS_BUCKETS) + 1)
        self._sums = [0.0, 0.0]  # durations, lateness
        self._task_label = LabelCap(task_label_limit)
        self._errors_lock = threading.Lock()  # store errors come from the lease thread too
        self.registry = own_registry(self)

    def job_started(self, job: Job) -> None:
        """A job starts running."""
        self.busy += 1  # more than 1 with DQUEUE_ASYNC_CONCURRENCY

    def job_finished(self, outcome: Outcome) -> None:
        """Record the run's duration and lateness (whatever its outcome)."""
        self.busy -= 1
        started, finished = outcome.started_at, outcome.finished_at
        if started is None:
            return
        if finished is not None:
            took = max(finished - started, 0.0)
            self._durations[bisect_left(DURATION_BUCKETS, took)] += 1
            self._sums[0] += took
        late = max(started - outcome.job.due_at, 0.0)
        self._lateness[bisect_left(LATENESS_BUCKETS, late)] += 1
        self._sums[1] += late

    def settled(
        self,
        outcomes: Sequence[Outcome],
        lost_ids: Collection[str] = (),
        dropped: Sequence[Outcome] = (),
    ) -> None:
        """Count settled outcomes by task and outcome; lost and dropped ones as ``lease_lost``."""
        jobs, task_label, known = self.jobs, self._task_label, self._task_label.seen
        for outcome in outcomes:
            job, kind = outcome.job, outcome.kind
            # Identity tests: an Enum's __hash__ is python code, too slow for a dict lookup here.
            if lost_ids and job.id in lost_ids:
                label = "lease_lost"
            else:
                label = "succeeded" if kind is _ACK else _OUTCOME_LABELS[kind]
            key = (job.task if job.task in known else task_label(job.task), label)
            jobs[key] = jobs.get(key, 0) + 1
        for outcome in dropped:
            key = (task_label(outcome.job.task), "lease_lost")
            jobs[key] = jobs.get(key, 0) + 1

    def store_error(self, operation: str) -> None:
        """A store call (``reserve``, ``settle``, ``renew``, ``recover``) failed."""
        with self._errors_lock:
            self.store_errors[operation] = self.store_errors.get(operation, 0) + 1

    def collect(self) -> Iterator[Metric]:
        """The metric families, for ``prometheus_client``."""
        from prometheus_client.core import (
            CounterMetricFamily,
            GaugeMetricFamily,
            HistogramMetricFamily,
        )

        queue = self.queue
        jobs = CounterMetricFamily(
            "dqueue_jobs_total",
            "Jobs this worker settled in the store, by task and outcome.",
            labels=["queue", "task", "outcome"],
        )
        for (task, outcome), count in self.jobs.copy().items():
            jobs.add_metric([queue, task, outcome], count)
        yield jobs
        histograms = (
            ("duration", "Seconds each job ran.", DURATION_BUCKETS, self._durations),
            (
                "lateness",
                "Seconds between when each job was due and when it started.",
                LATENESS_BUCKETS,
                self._lateness,
            ),
        )
        for (name, help_text, bounds, counts), total in zip(histograms, self._sums, strict=True):
            family = HistogramMetricFamily(
                f"dqueue_job_{name}_seconds", help_text, labels=["queue"]
            )
            cumulative, buckets = 0, []
            for bound, count in zip((*bounds, "+Inf"), counts.copy(), strict=True):
                cumulative += count
                buckets.append((str(bound), float(cumulative)))  # 0.005, 1.0, +Inf
            family.add_metric([queue], buckets, total)
            yield family
        busy = GaugeMetricFamily(
            "dqueue_worker_busy",
            "The jobs this worker runs now (1 while a job runs; more with async concurrency).",
            labels=["queue"],
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
        return metrics_route(self.registry)().body.decode()


# -- serving ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Response:
    """What a route (``Callable[[], Response]``) answers."""

    status: int
    body: bytes
    content_type: str

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        """A JSON document."""
        return cls(status, (json.dumps(data, sort_keys=True) + "\n").encode(), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        """Plain text."""
        return cls(status, text.encode(), "text/plain; charset=utf-8")


def metrics_route(registry: Collector) -> Callable[[], Response]:
    """``/metrics``: the text exposition format (0.0.4) of ``registry``."""
    from prometheus_client.exposition import generate_latest

    return lambda: Response(200, generate_latest(registry), _TEXT_FORMAT)


def host_for_targets(address: str) -> str:
    """The host others reach ``address`` at: this machine's name for ``0.0.0.0`` and ``::``."""
    host = socket.gethostname() if address in ("", "0.0.0.0", "::") else address
    return f"[{host}]" if ":" in host else host


def serve(
    address: str, port: int, routes: Mapping[str, Callable[[], Response]], *, what: str
) -> Callable[[], None] | None:
    """Serve ``routes`` (``path -> route``) in daemon threads; return the function that stops.

    A port that can't be bound is one error in the log and ``None``: the caller carries on
    without its endpoints, since a queue that stops because its metrics port is taken helps
    nobody. A route that raises gets a 500; an unknown path a 404. ``what`` names the server in
    the log (``"worker mail/1 metrics"``).
    """
    # Imported here: a worker without metrics never loads an HTTP server.
    from http.server import BaseHTTPRequestHandler
    from socketserver import ThreadingTCPServer
    from urllib.parse import urlsplit

    # Not http.server's HTTPServer: it looks up the host's FQDN at bind, which can hang on a
    # box without DNS, and the handler needs nothing else of it.
    class Server(ThreadingTCPServer):
        address_family = socket.AF_INET6 if ":" in address else socket.AF_INET
        allow_reuse_address = True  # as HTTPServer: a restarted runner rebinds at once
        daemon_threads = True  # as ThreadingHTTPServer: a stalled client never holds up exit

    class Handler(BaseHTTPRequestHandler):
        timeout = 10.0  # seconds: a client that stalls mid-request doesn't hold a thread

        def do_GET(self) -> None:
            path = urlsplit(self.path).path
            route = routes.get(path)
            if route is None:
                known = ", ".join(sorted(routes))
                response = Response.text(f"not found; endpoints: {known}\n", status=404)
            else:
                try:
                    response = route()
                except Exception:
                    _logger.exception("endpoint %s failed", path)
                    response = Response.text("internal error\n", status=500)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_HEAD = do_GET

        def log_message(self, format: str, *args: Any) -> None:
            _logger.debug("%s %s", self.address_string(), format % args)

    try:
        server = Server((address, port), Handler)
    except OSError as exc:
        _logger.error(
            "cannot serve %s on %s:%d (%s); carrying on without them "
            "(see DQUEUE_PROMETHEUS_START_PORT and DQUEUE_PROMETHEUS_ADDRESS)",
            what,
            address,
            port,
            exc.strerror or exc,
        )
        return None
    BackgroundThread(server.serve_forever, name="dqueue-metrics", args=(0.5,)).start()
    url = f"http://{host_for_targets(address)}:{port}"
    _logger.info("serving %s at %s (%s)", what, url, ", ".join(sorted(routes)))

    def stop() -> None:
        server.shutdown()
        server.server_close()

    return stop


@contextlib.contextmanager
def worker_metrics_served(
    settings: Settings, queue: str, slot: int, port: int | None
) -> Iterator[WorkerMetrics | None]:
    """Serve a worker's ``/metrics`` on ``port`` for the block; yield its metrics hook.

    Yields ``None`` (the worker runs without metrics, at no cost) when ``port`` is ``None``, or
    when the port can't be bound (logged once as an error).

    Raises:
        ConfigurationError: a port is given and ``prometheus_client`` is not installed.
    """
    if port is None:
        yield None
        return
    metrics = WorkerMetrics(queue)
    routes = {"/metrics": metrics_route(metrics.registry)}
    stop = serve(settings.PROMETHEUS_ADDRESS, port, routes, what=f"worker {queue}/{slot} metrics")
    try:
        yield metrics if stop is not None else None
    finally:
        if stop is not None:
            stop()
