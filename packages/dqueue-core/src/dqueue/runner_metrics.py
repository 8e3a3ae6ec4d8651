"""The runner's (master's) endpoints: queue and worker metrics, worker targets, health.

Needs ``prometheus_client`` (``pip install 'dqueue-core[prometheus]'``). With
``DQUEUE_ENABLE_PROMETHEUS`` on, the runner serves on ``DQUEUE_PROMETHEUS_ADDRESS`` port
``DQUEUE_PROMETHEUS_START_PORT``:

- ``/metrics``: per queue, read from the store (at most once a second, however many scrape)
  ``dqueue_queue_jobs{queue,state}`` (``ready``, ``delayed``, ``in_flight``, ``dead``),
  ``dqueue_queue_paused{queue}`` and ``dqueue_queue_lateness_seconds{queue,quantile}`` (0.5 and
  0.99 of recent runs); per queue on this machine ``dqueue_runner_workers``,
  ``dqueue_runner_workers_alive`` and ``dqueue_runner_worker_restarts_total``; and
  ``dqueue_store_up`` (0 when the store can't be read: a scrape never fails for that).
- ``/worker_config``: this machine's worker targets as Prometheus file-SD JSON, as
  django-lightweight-queue served it (with ``dqueue_worker_queue``/``dqueue_worker_slot``).
- ``/healthz``: 200 and a small JSON body while every worker is alive and the store answers,
  503 otherwise.

Worker *i* (1-based, in this machine's slot list) serves its own ``/metrics`` on
``DQUEUE_PROMETHEUS_START_PORT + i`` (:mod:`dqueue.metrics`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from .backends import Backend, QueueCounts, get_backend
from .backends.common import percentile
from .errors import ConfigurationError
from .exposition import (
    MetricsServer,
    Response,
    Route,
    host_for_targets,
    metrics_route,
    require_prometheus,
    start_server,
)
from .pool import WorkerSlot
from .settings import Settings

if TYPE_CHECKING:
    from prometheus_client.core import Metric

__all__ = [
    "RunnerMetrics",
    "RunnerView",
    "check_metrics_ports",
    "start_runner_metrics",
    "worker_metrics_ports",
]

_logger = logging.getLogger("dqueue.metrics")

_CACHE_S: Final = 1.0
_READ_TIMEOUT_S: Final = 5.0  # well inside Prometheus' default 10 s scrape timeout
_STATES: Final = ("ready", "delayed", "in_flight", "dead")
_QUANTILES: Final = (0.5, 0.99)


def worker_metrics_ports(settings: Settings, slots: Sequence[WorkerSlot]) -> dict[WorkerSlot, int]:
    """The metrics port of each slot: ``DQUEUE_PROMETHEUS_START_PORT + i``, ``i`` from 1."""
    start = settings.PROMETHEUS_START_PORT
    return {slot: start + index for index, slot in enumerate(slots, start=1)}


def check_metrics_ports(settings: Settings, slots: Sequence[WorkerSlot]) -> None:
    """Refuse a start port that leaves no room for this machine's workers' ports.

    Raises:
        ConfigurationError: ``DQUEUE_PROMETHEUS_START_PORT + len(slots)`` is above 65535.
    """
    last = settings.PROMETHEUS_START_PORT + len(slots)
    if last > 65535:
        raise ConfigurationError(
            f"DQUEUE_PROMETHEUS_START_PORT = {settings.PROMETHEUS_START_PORT} leaves no port for "
            f"{len(slots)} worker(s): the last would be {last}, above 65535"
        )


class RunnerView(Protocol):
    """What the endpoints read of a runner (:class:`dqueue.runner.Runner` is one)."""

    settings: Settings
    slots: list[WorkerSlot]

    def worker_pids(self) -> dict[WorkerSlot, int]:
        """The pid of each running worker, by slot."""
        ...

    def start_counts(self) -> dict[WorkerSlot, int]:
        """How many times each slot's worker was started."""
        ...


@dataclass(frozen=True, slots=True)
class _StoreView:
    up: bool
    counts: tuple[QueueCounts, ...]
    read_at: float


@dataclass(slots=True)
class _PendingRead:
    done: threading.Event = field(default_factory=threading.Event)
    counts: tuple[QueueCounts, ...] = ()
    error: Exception | None = None


class RunnerMetrics:
    """The master's endpoints for ``runner``; see the module docstring.

    Args:
        runner: the runner whose workers and settings are reported.
        monotonic: the source of time for the store cache.
        cache_s: how long one read of the store answers scrapes.
        read_timeout_s: how long a scrape waits for the store before reporting it down.
        backend_for: ``queue -> Backend`` (:func:`~dqueue.backends.get_backend` with the
            runner's settings by default).

    Raises:
        ConfigurationError: ``prometheus_client`` is not installed.
    """

    def __init__(
        self,
        runner: RunnerView,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        cache_s: float = _CACHE_S,
        read_timeout_s: float = _READ_TIMEOUT_S,
        backend_for: Callable[[str], Backend] | None = None,
    ) -> None:
        self.runner = runner
        self.settings = runner.settings
        self.slots = list(runner.slots)
        self.ports = worker_metrics_ports(self.settings, self.slots)
        require_prometheus()
        from prometheus_client.registry import CollectorRegistry

        self.registry = CollectorRegistry()
        self.registry.register(self)
        self._monotonic = monotonic
        self._cache_s = cache_s
        self._read_timeout_s = read_timeout_s
        self._backend_for = backend_for or (lambda q: get_backend(q, settings=self.settings))
        self._lock = threading.Lock()
        self._view: _StoreView | None = None
        self._pending: _PendingRead | None = None
        self._store_was_down = False

    # -- the store -----------------------------------------------------------------------------

    def _read_store(self) -> tuple[QueueCounts, ...]:
        """The counts of this runner's queues and of every queue each store holds."""
        settings = self.settings
        backends: dict[str, Backend] = {}  # one per dotted path
        for queue in sorted({slot.queue for slot in self.slots} | {"default"}):
            path = settings.backend_path(queue)
            if path not in backends:
                backend = self._backend_for(queue)
                if backend.supports_workers:
                    backends[path] = backend
        queues = {slot.queue for slot in self.slots}
        for path, backend in backends.items():
            queues.update(q for q in backend.queues() if settings.backend_path(q) == path)
        return tuple(
            backends[settings.backend_path(queue)].counts(queue)
            for queue in sorted(queues)
            if settings.backend_path(queue) in backends
        )

    def _start_read(self) -> _PendingRead:
        pending = _PendingRead()

        def read() -> None:
            try:
                pending.counts = self._read_store()
            except Exception as exc:
                pending.error = exc
            finally:
                pending.done.set()

        # A daemon thread, not an executor: a read stuck on a dead host must not hold up exit.
        threading.Thread(target=read, name="dqueue-metrics-store", daemon=True).start()
        return pending

    def store_view(self) -> _StoreView:
        """The counts of every queue, read at most once per ``cache_s`` (one reader at a time).

        A read that takes longer than ``read_timeout_s`` (a store host that stopped answering)
        is not waited for: the scrape gets ``dqueue_store_up 0`` in time, and the next scrape
        takes the read's result if it has finished by then.
        """
        with self._lock:
            now = self._monotonic()
            view = self._view
            if view is not None and now - view.read_at < self._cache_s:
                return view
            pending = self._pending or self._start_read()
            self._pending = None
            problem = ""
            if not pending.done.wait(self._read_timeout_s):
                self._pending = pending
                problem = f"no answer within {self._read_timeout_s:g}s"
            elif pending.error is not None:
                problem = str(pending.error)
            if problem and not self._store_was_down:
                _logger.warning(
                    "metrics: cannot read the store (%s); dqueue_store_up is 0 until it answers",
                    problem,
                )
            elif not problem and self._store_was_down:
                _logger.info("metrics: the store answers again")
            self._store_was_down = bool(problem)
            self._view = _StoreView(not problem, () if problem else pending.counts, now)
            return self._view

    # -- endpoints -----------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        """Every metric of the master, read now (the store part from the cache)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        view = self.store_view()
        up = GaugeMetricFamily("dqueue_store_up", "1 if the store answered the last read, else 0.")
        up.add_metric([], 1 if view.up else 0)
        jobs = GaugeMetricFamily(
            "dqueue_queue_jobs", "Jobs of each queue in each state.", labels=["queue", "state"]
        )
        paused = GaugeMetricFamily(
            "dqueue_queue_paused", "1 while the queue is paused.", labels=["queue"]
        )
        lateness = GaugeMetricFamily(
            "dqueue_queue_lateness_seconds",
            "How late recent runs of the queue started (quantiles of the store's samples).",
            labels=["queue", "quantile"],
        )
        for counts in view.counts:
            for state in _STATES:
                jobs.add_metric([counts.queue, state], getattr(counts, state))
            paused.add_metric([counts.queue], 0 if counts.paused_until is None else 1)
            for quantile in _QUANTILES:
                value = percentile(counts.recent_lateness, quantile)
                lateness.add_metric(
                    [counts.queue, str(quantile)], math.nan if value is None else value
                )
        workers = GaugeMetricFamily(
            "dqueue_runner_workers", "Worker slots this runner runs.", labels=["queue"]
        )
        alive = GaugeMetricFamily(
            "dqueue_runner_workers_alive",
            "Worker processes of this runner running.",
            labels=["queue"],
        )
        restarts = CounterMetricFamily(
            "dqueue_runner_worker_restarts_total",
            "Times this runner started a worker again after it exited.",
            labels=["queue"],
        )
        pids, starts = self.runner.worker_pids(), self.runner.start_counts()
        for queue in dict.fromkeys(slot.queue for slot in self.slots):
            mine = [slot for slot in self.slots if slot.queue == queue]
            workers.add_metric([queue], len(mine))
            alive.add_metric([queue], sum(slot in pids for slot in mine))
            restarts.add_metric([queue], sum(max(starts.get(s, 0) - 1, 0) for s in mine))
        yield from (up, jobs, paused, lateness, workers, alive, restarts)

    def worker_targets(self) -> list[dict[str, Any]]:
        """This machine's workers as Prometheus file-SD target groups."""
        host = host_for_targets(self.settings.PROMETHEUS_ADDRESS)
        return [
            {
                "targets": [f"{host}:{port}"],
                "labels": {
                    "dqueue_worker_queue": slot.queue,
                    "dqueue_worker_slot": str(slot.number),
                },
            }
            for slot, port in self.ports.items()
        ]

    def health(self) -> Response:
        """``/healthz``: 200 when every worker is alive and the store answers, else 503."""
        view = self.store_view()
        pids = self.runner.worker_pids()
        down = [str(slot) for slot in self.slots if slot not in pids]
        healthy = view.up and not down
        body = {
            "status": "ok" if healthy else "unhealthy",
            "store": "up" if view.up else "down",
            "workers": len(self.slots),
            "workers_alive": len(self.slots) - len(down),
            "workers_down": down,
        }
        return Response.json(body, status=200 if healthy else 503)

    def routes(self) -> dict[str, Route]:
        """``/metrics``, ``/worker_config`` and ``/healthz``."""
        return {
            "/metrics": metrics_route(self.registry),
            "/worker_config": lambda: Response.json(self.worker_targets()),
            "/healthz": self.health,
        }


def start_runner_metrics(runner: RunnerView) -> MetricsServer | None:
    """Serve ``runner``'s endpoints (``None``, one error logged, if the port is taken)."""
    settings = runner.settings
    return start_server(
        settings.PROMETHEUS_ADDRESS,
        settings.PROMETHEUS_START_PORT,
        RunnerMetrics(runner).routes(),
        what="runner metrics",
    )
