"""The runner's (master's) endpoints: ``/metrics``, ``/worker_config`` and ``/healthz``.

With ``DQUEUE_ENABLE_PROMETHEUS`` on, the runner serves them on ``DQUEUE_PROMETHEUS_ADDRESS``
port ``DQUEUE_PROMETHEUS_START_PORT``, and worker *i* (1-based, in this machine's slot list) its
own ``/metrics`` on ``DQUEUE_PROMETHEUS_START_PORT + i``. The queue gauges are read from the
store at most once a second however many scrape, and a store that can't be read, or doesn't
answer within 5 s, never fails a scrape: ``dqueue_store_up`` is 0 instead. The live workers
of each queue are read in the same round, from the stores' worker registries, so they count
every machine's workers, not only this runner's.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

from .backends import Backend, get_backend
from .backends.base import QueueCounts, percentile
from .errors import ConfigurationError
from .metrics import Response, host_for_targets, metrics_route, own_registry
from .ops.inspection import store_warnings
from .ops.queues import list_queues
from .ops.workers import live_workers, unserved
from .pool import WorkerSlot
from .settings import Settings
from .threads import BackgroundThread

if TYPE_CHECKING:
    from prometheus_client.core import Metric

    from .runner import Runner

__all__ = ["RunnerMetrics", "worker_metrics_ports"]

_logger = logging.getLogger("dqueue.metrics")

_STATES: Final = ("ready", "delayed", "in_flight", "dead")
_QUANTILES: Final = (0.5, 0.99)


def worker_metrics_ports(settings: Settings, slots: Sequence[WorkerSlot]) -> dict[WorkerSlot, int]:
    """The metrics port of each slot: ``DQUEUE_PROMETHEUS_START_PORT + i``, ``i`` from 1.

    Raises:
        ConfigurationError: the last port would be above 65535.
    """
    start = settings.PROMETHEUS_START_PORT
    if start + len(slots) > 65535:
        raise ConfigurationError(
            f"DQUEUE_PROMETHEUS_START_PORT = {start} leaves no port for {len(slots)} worker(s): "
            f"the last would be {start + len(slots)}, above 65535"
        )
    return {slot: start + index for index, slot in enumerate(slots, start=1)}


@dataclass(slots=True)
class _Read:
    """One read of the store, in a thread of its own."""

    done: threading.Event = field(default_factory=threading.Event)
    counts: tuple[QueueCounts, ...] = ()
    live: dict[str, int] = field(default_factory=dict)  # queue -> live workers, where known
    warnings: tuple[str, ...] = ()  # of the stores (ops.store_warnings)
    error: str = ""
    at: float = 0.0


class RunnerMetrics:
    """The master's endpoints for ``runner``; see the module docstring.

    Args:
        runner: the runner whose workers and settings are reported.
        monotonic: the source of time for the store cache.
        cache_s: how long one read of the store answers scrapes.
        read_timeout_s: how long a scrape waits for the store before reporting it down.
        backend_for: ``queue -> Backend`` (:func:`~dqueue.backends.get_backend` by default).

    Raises:
        ConfigurationError: ``prometheus_client`` is not installed.
    """

    def __init__(
        self,
        runner: Runner,
        *,
        monotonic: Callable[[], float] = time.monotonic,
        cache_s: float = 1.0,
        read_timeout_s: float = 5.0,  # well inside Prometheus' default 10 s scrape timeout
        backend_for: Callable[[str], Backend] | None = None,
    ) -> None:
        self.runner = runner
        self.settings = runner.settings
        self.slots = list(runner.slots)
        self.registry = own_registry(self)
        self._monotonic = monotonic
        self._cache_s = cache_s
        self._read_timeout_s = read_timeout_s
        self._backend_for = backend_for or (lambda q: get_backend(q, settings=self.settings))
        self._lock = threading.Lock()
        self._last: _Read | None = None  # the last read answered, up or down
        self._pending: _Read | None = None  # a read that did not answer in time

    def _read_store(self, read: _Read) -> None:
        """The counts of every queue ``dqueue status`` would list, on stores workers serve."""
        try:
            known = list_queues(self.settings, extra=[slot.queue for slot in self.slots]).queues
            backends = {queue: self._backend_for(queue) for queue in known}
            stores = {id(b): b for b in backends.values() if b.supports_workers}.values()
            read.warnings = tuple(w for store in stores for w in store_warnings(store))
            read.counts = tuple(
                backend.counts(queue)
                for queue, backend in backends.items()
                if backend.supports_workers
            )
            served = [count.queue for count in read.counts]
            listing = live_workers(self.settings, served, backend_for=self._backend_for)
            read.live = {q: n for q in served if (n := listing.live(q)) is not None}
        except Exception as exc:
            read.error = str(exc) or type(exc).__name__
        finally:
            read.done.set()

    def store_view(self) -> tuple[bool, tuple[QueueCounts, ...]]:
        """Whether the store answered, and the counts of every queue (cached ``cache_s``)."""
        read = self._current()
        return not read.error, read.counts

    def _current(self) -> _Read:
        """The last read of the store, or a new one when it is older than ``cache_s``.

        A read that takes longer than ``read_timeout_s`` (a store host that stopped answering)
        is not waited for: the scrape gets ``dqueue_store_up 0`` in time, and the next scrape
        takes the read's result if it has finished by then.
        """
        with self._lock:
            now, last = self._monotonic(), self._last
            if last is None or now - last.at >= self._cache_s:
                read, self._pending = self._pending, None
                if read is None:
                    read = _Read()
                    # A daemon thread: a read stuck on a dead host must not hold up exit.
                    reader = BackgroundThread(self._read_store, name="dqueue-read", args=(read,))
                    reader.start()
                if not read.done.wait(self._read_timeout_s):
                    self._pending = read
                    read = _Read(error=f"no answer within {self._read_timeout_s:g}s")
                read.at = now
                was_down = last is not None and bool(last.error)
                if read.error and not was_down:
                    _logger.warning(
                        "metrics: cannot read the store (%s); dqueue_store_up is 0 until it "
                        "answers",
                        read.error,
                    )
                elif was_down and not read.error:
                    _logger.info("metrics: the store answers again")
                self._last = last = read
            return last

    def collect(self) -> Iterator[Metric]:
        """Every metric of the master, read now (the store part from the cache)."""
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily

        read = self._current()
        up, counts = not read.error, read.counts
        store_up = GaugeMetricFamily(
            "dqueue_store_up", "1 if the store answered the last read, else 0.", value=int(up)
        )
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
        live = GaugeMetricFamily(
            "dqueue_queue_live_workers",
            "Workers of the queue alive now, on every machine (from their heartbeats).",
            labels=["queue"],
        )
        no_live = GaugeMetricFamily(
            "dqueue_queue_no_live_worker",
            "1 while the queue has ready jobs and no live worker to run them.",
            labels=["queue"],
        )
        for count in counts:
            if (n := read.live.get(count.queue)) is not None:
                live.add_metric([count.queue], n)
                no_live.add_metric([count.queue], int(unserved(count.ready, n)))
            for state in _STATES:
                jobs.add_metric([count.queue, state], getattr(count, state))
            paused.add_metric([count.queue], int(count.paused_until is not None))
            samples = [sample.seconds for sample in count.recent_lateness]
            for quantile in _QUANTILES:
                late = percentile(samples, quantile)
                lateness.add_metric(
                    [count.queue, str(quantile)], math.nan if late is None else late
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
        yield from (store_up, jobs, paused, lateness, live, no_live, workers, alive, restarts)

    def worker_targets(self) -> list[dict[str, object]]:
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
            for slot, port in worker_metrics_ports(self.settings, self.slots).items()
        ]

    def health(self) -> Response:
        """``/healthz``: 200 when every worker is alive and the store answers, else 503."""
        up = self.store_view()[0]
        warnings = list(self._last.warnings) if self._last is not None else []
        pids = self.runner.worker_pids()
        down = [str(slot) for slot in self.slots if slot not in pids]
        body = {
            "status": "ok" if up and not down else "unhealthy",
            "store": "up" if up else "down",
            "workers": len(self.slots),
            "workers_alive": len(self.slots) - len(down),
            "workers_down": down,
            "warnings": warnings,  # risks to the jobs, such as a store that may evict them
        }
        return Response.json(body, status=200 if up and not down else 503)

    def routes(self) -> dict[str, Callable[[], Response]]:
        """``/metrics``, ``/worker_config`` and ``/healthz``."""
        return {
            "/metrics": metrics_route(self.registry),
            "/worker_config": lambda: Response.json(self.worker_targets()),
            "/healthz": self.health,
        }
