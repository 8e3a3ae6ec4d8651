"""The runner's (master's) endpoints: queue and worker metrics, worker targets, health.

With ``DQUEUE_ENABLE_PROMETHEUS`` on, the runner serves on ``DQUEUE_PROMETHEUS_ADDRESS`` port
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
``DQUEUE_PROMETHEUS_START_PORT + i`` (:mod:`dqueue.worker_metrics`).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from .backends import Backend, QueueCounts, get_backend
from .backends.common import percentile
from .errors import ConfigurationError
from .exposition import MetricsServer, Response, Route, host_for_targets, start_server
from .metrics import Counter, Gauge, Metric, render
from .pool import WorkerSlot
from .settings import Settings

if TYPE_CHECKING:
    from .runner import Runner

__all__ = ["RunnerMetrics", "check_metrics_ports", "start_runner_metrics", "worker_metrics_ports"]

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
    """

    def __init__(
        self,
        runner: Runner,
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
        self._monotonic = monotonic
        self._cache_s = cache_s
        self._lock = threading.Lock()
        self._view: _StoreView | None = None
        self._store_was_down = False
        self._read_timeout_s = read_timeout_s
        self._pending: _PendingRead | None = None
        self._backend_for = backend_for or self._default_backend

    # -- the store -----------------------------------------------------------------------------

    def _default_backend(self, queue: str) -> Backend:
        return get_backend(queue, settings=self.settings)

    def _backends(self) -> dict[str, Backend]:
        """One backend per dotted path: this runner's queues' and ``DQUEUE_BACKEND``."""
        settings = self.settings
        found: dict[str, Backend] = {}
        for queue in sorted({slot.queue for slot in self.slots} | {"default"}):
            path = settings.backend_path(queue)
            if path not in found:
                backend = self._backend_for(queue)
                if backend.supports_workers:
                    found[path] = backend
        return found

    def _read_store(self) -> tuple[QueueCounts, ...]:
        settings = self.settings
        queues = {slot.queue for slot in self.slots}
        backends = self._backends()
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
            if not pending.done.wait(self._read_timeout_s):
                self._pending = pending
                view = self._down(f"no answer within {self._read_timeout_s:g}s", now)
            else:
                self._pending = None
                if pending.error is not None:
                    view = self._down(str(pending.error), now)
                else:
                    if self._store_was_down:
                        _logger.info("metrics: the store answers again")
                    self._store_was_down = False
                    view = _StoreView(up=True, counts=pending.counts, read_at=now)
            self._view = view
            return view

    def _down(self, problem: str, now: float) -> _StoreView:
        if not self._store_was_down:
            _logger.warning(
                "metrics: cannot read the store (%s); dqueue_store_up is 0 until it answers",
                problem,
            )
        self._store_was_down = True
        return _StoreView(up=False, counts=(), read_at=now)

    # -- the workers ---------------------------------------------------------------------------

    def _workers_by_queue(self) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
        configured: dict[str, int] = {}
        alive: dict[str, int] = {}
        restarts: dict[str, int] = {}
        pids = self.runner.worker_pids()
        starts = self.runner.start_counts()
        for slot in self.slots:
            queue = slot.queue
            configured[queue] = configured.get(queue, 0) + 1
            alive[queue] = alive.get(queue, 0) + (slot in pids)
            restarts[queue] = restarts.get(queue, 0) + max(starts.get(slot, 0) - 1, 0)
        return configured, alive, restarts

    # -- endpoints -----------------------------------------------------------------------------

    def collect(self) -> list[Metric]:
        """Every metric of the master, read now (the store part from the cache)."""
        view = self.store_view()
        up = Gauge("dqueue_store_up", "1 if the store answered the last read, else 0.")
        up.set((), 1 if view.up else 0)
        jobs = Gauge("dqueue_queue_jobs", "Jobs of each queue in each state.", ("queue", "state"))
        paused = Gauge("dqueue_queue_paused", "1 while the queue is paused.", ("queue",))
        lateness = Gauge(
            "dqueue_queue_lateness_seconds",
            "How late recent runs of the queue started (quantiles of the store's samples).",
            ("queue", "quantile"),
        )
        for counts in view.counts:
            for state in _STATES:
                jobs.set((counts.queue, state), getattr(counts, state))
            paused.set((counts.queue,), 0 if counts.paused_until is None else 1)
            for quantile in _QUANTILES:
                value = percentile(counts.recent_lateness, quantile)
                lateness.set((counts.queue, str(quantile)), math.nan if value is None else value)
        configured, alive, restarts = self._workers_by_queue()
        workers = Gauge("dqueue_runner_workers", "Worker slots this runner runs.", ("queue",))
        workers_alive = Gauge(
            "dqueue_runner_workers_alive", "Worker processes of this runner running.", ("queue",)
        )
        restarted = Counter(
            "dqueue_runner_worker_restarts_total",
            "Times this runner started a worker again after it exited.",
            ("queue",),
        )
        for queue, count in configured.items():
            workers.set((queue,), count)
            workers_alive.set((queue,), alive[queue])
            restarted.inc((queue,), restarts[queue])
        return [up, jobs, paused, lateness, workers, workers_alive, restarted]

    def metrics(self) -> Response:
        """``/metrics``."""
        return Response.metrics(render(self.collect()))

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

    def worker_config(self) -> Response:
        """``/worker_config``."""
        return Response.json(self.worker_targets())

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
            "/metrics": self.metrics,
            "/worker_config": self.worker_config,
            "/healthz": self.health,
        }


def start_runner_metrics(runner: Runner) -> MetricsServer | None:
    """Serve ``runner``'s endpoints (``None``, one error logged, if the port is taken)."""
    settings = runner.settings
    return start_server(
        settings.PROMETHEUS_ADDRESS,
        settings.PROMETHEUS_START_PORT,
        RunnerMetrics(runner).routes(),
        what="runner metrics",
    )
