"""The runner (master process): one worker process per slot, kept alive, stopped gracefully.

.. code-block:: python

    from dqueue.pool import pooled_slots, queue_counts
    from dqueue.runner import Runner, python_worker_command

    settings = get_settings()
    slots = pooled_slots(queue_counts(settings), machine=1, machines=2)
    Runner(settings, slots, worker_command=python_worker_command()).run()

Each worker is a fresh ``subprocess.Popen`` of ``worker_command(slot)`` (never a fork of this
process, whose threads and connections a child must not inherit), in its own session, so that a
Ctrl-C in the terminal reaches the runner only and the runner decides how workers stop.

- A worker that exits is started again: at once after a clean exit (a recycling limit), after
  an exponential backoff per slot (0.5 s doubling up to ``DQUEUE_RESTART_BACKOFF_MAX``) after a
  crash. The backoff resets once a worker has stayed up a while. Every exit is logged with its
  code or signal; a crash loop is logged as one.
- Services (the cron scheduler, ...) start once the workers are started and stop first.
- SIGTERM or SIGINT: SIGTERM every worker (each finishes its running job), wait up to
  ``DQUEUE_SHUTDOWN_TIMEOUT`` seconds, SIGKILL the rest, exit 0. A second signal SIGKILLs at
  once.
- A worker whose runner died (SIGKILL, OOM) notices and exits after its running job.
- With ``DQUEUE_ENABLE_PROMETHEUS`` on, the runner serves metrics, worker targets and health
  (:mod:`dqueue.runner_metrics`) and starts each worker with its own metrics port.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from types import FrameType
from typing import Final

from .backends import backend_class, get_backend
from .backoff import Backoff
from .clock import SYSTEM_CLOCK, Clock
from .errors import ConfigurationError
from .identity import RUNNER_PID_ENV
from .pool import WorkerSlot
from .proctitle import set_process_title
from .services import Service
from .settings import Settings

__all__ = ["Runner", "WorkerCommand", "check_backends", "describe_exit", "python_worker_command"]

_logger = logging.getLogger("dqueue.runner")

#: ``slot -> argv`` of the worker process for that slot.
WorkerCommand = Callable[[WorkerSlot], list[str]]

_TICK_S: Final = 0.2  # how often the runner looks at its workers
_STABLE_S: Final = 10.0  # a worker up this long has recovered: its restart backoff resets
_FIRST_RESTART_S: Final = 0.5
_CRASH_LOOP: Final = 3  # exits in a row, each soon after start, that the log calls a crash loop


def python_worker_command(extra_args: Sequence[str] = ()) -> WorkerCommand:
    """Workers as ``python -m dqueue worker QUEUE NUMBER *extra_args`` (the ``dqueue`` CLI)."""
    extra = list(extra_args)

    def command(slot: WorkerSlot) -> list[str]:
        return [sys.executable, "-m", "dqueue", "worker", slot.queue, str(slot.number), *extra]

    return command


def describe_exit(returncode: int) -> str:
    """``exit code 3`` or ``signal SIGKILL``, from a ``Popen.returncode``."""
    if returncode < 0:
        try:
            return f"signal {signal.Signals(-returncode).name}"
        except ValueError:
            return f"signal {-returncode}"
    return f"exit code {returncode}"


def check_backends(settings: Settings, queues: Sequence[str]) -> None:
    """Refuse backends that worker processes can't serve; warn when a store is unreachable.

    Raises:
        ConfigurationError: a queue's backend is the synchronous or memory backend (or
            another without ``supports_workers``), or cannot be loaded, or its store is unsafe
            to run jobs on (:meth:`~dqueue.backends.base.Backend.health_warnings`).
    """
    for queue in sorted(set(queues)):
        path = settings.backend_path(queue)
        setting = "DQUEUE_BACKEND" if path == settings.BACKEND else "DQUEUE_BACKEND_OVERRIDES"
        cls = backend_class(path, setting=setting)
        if not getattr(cls, "supports_workers", False):
            why = (
                "it runs each job inline, at enqueue"
                if getattr(cls, "runs_inline", False)
                else "its jobs live in one process's memory"
            )
            raise ConfigurationError(
                f"{setting} = {path!r} cannot serve worker processes ({why}): for queue "
                f"{queue!r} use dqueue.backends.sqlite.SQLiteBackend or a Redis backend"
            )
    for queue in sorted(set(queues)):
        try:
            (backend := get_backend(queue, settings=settings)).ping()
        except Exception as exc:
            _logger.warning(
                "the store of queue %r is unreachable (%s); workers will retry", queue, exc
            )
            continue
        for warning in backend.health_warnings():  # a ConfigurationError: refuse to start
            _logger.warning("the store of queue %r: %s", queue, warning)


@dataclass
class _Child:
    slot: WorkerSlot
    backoff: Backoff
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    start_at: float = 0.0  # when to (re)start it
    quick_exits: int = 0
    starts: int = 0


class Runner:
    """Keeps one worker process per slot running; see the module docstring.

    Args:
        settings: the effective settings.
        slots: the worker slots this machine runs (:mod:`dqueue.pool`).
        worker_command: builds the argv of a slot's worker process.
        services: started after the workers, stopped before them.
        clock: the source of time for restart backoff.
        description: shown in the process title, e.g. ``"machine 1 of 3"``.
        check: refuse backends that can't serve worker processes before starting any.
        metrics_port_option: with ``DQUEUE_ENABLE_PROMETHEUS`` on, the option appended to each
            worker's argv with its metrics port (``START_PORT + i``); ``None`` passes none.
    """

    def __init__(
        self,
        settings: Settings,
        slots: Sequence[WorkerSlot],
        *,
        worker_command: WorkerCommand,
        services: Sequence[Service] = (),
        clock: Clock = SYSTEM_CLOCK,
        description: str = "",
        check: bool = True,
        metrics_port_option: str | None = "--metrics-port",
    ) -> None:
        self.settings = settings
        self.slots = list(slots)
        self.worker_command = worker_command
        self.services = list(services)
        self.clock = clock
        self.description = description
        self.check = check
        self.metrics_port_option = metrics_port_option
        self._metrics_ports: dict[WorkerSlot, int] = {}
        self._stop = threading.Event()
        self._signals = 0
        max_s = max(settings.RESTART_BACKOFF_MAX, _FIRST_RESTART_S)
        self._children = [
            _Child(slot=slot, backoff=Backoff(_FIRST_RESTART_S, max_s)) for slot in self.slots
        ]

    # -- public --------------------------------------------------------------------------------

    def run(self) -> int:
        """Run until stopped; return the exit code (0).

        Raises:
            ConfigurationError: the backend can't serve worker processes (see
                :func:`check_backends`); no worker was started.
        """
        if self.check:
            check_backends(self.settings, [slot.queue for slot in self.slots] or ["default"])
        metrics = None
        if self.settings.ENABLE_PROMETHEUS:
            # Imported here: the metrics' HTTP server loads only with metrics on.
            from .metrics import serve
            from .runner_metrics import RunnerMetrics, worker_metrics_ports

            metrics = RunnerMetrics(self)  # before any worker: needs prometheus_client
            self._metrics_ports = worker_metrics_ports(self.settings, self.slots)
        title = "dqueue runner" + (f" [{self.description}]" if self.description else "")
        set_process_title(title)
        previous = self._install_signal_handlers()
        started_services: list[Service] = []
        stop_endpoints: Callable[[], None] | None = None
        try:
            _logger.info(
                "runner%s starting %d worker(s): %s",
                f" ({self.description})" if self.description else "",
                len(self.slots),
                ", ".join(str(slot) for slot in self.slots) or "none",
            )
            for child in self._children:
                self._start(child)
            if metrics is not None:
                settings = self.settings
                address, port = settings.PROMETHEUS_ADDRESS, settings.PROMETHEUS_START_PORT
                stop_endpoints = serve(address, port, metrics.routes(), what="runner metrics")
            for service in self.services:
                if self._stop.is_set():
                    break
                service.start()
                started_services.append(service)
                _logger.info("started service %s", service.name)
            while not self._stop.wait(_TICK_S):
                self._tend()
        finally:
            if stop_endpoints is not None:
                stop_endpoints()
            self._shutdown(started_services)
            for signum, handler in previous.items():
                signal.signal(signum, handler)  # type: ignore[arg-type]
        return 0

    def stop(self) -> None:
        """Ask the runner to stop its workers and return from :meth:`run` (any thread)."""
        self._stop.set()

    def worker_pids(self) -> dict[WorkerSlot, int]:
        """The pid of each running worker, by slot."""
        return {
            child.slot: child.process.pid
            for child in self._children
            if child.process is not None and child.process.poll() is None
        }

    def start_counts(self) -> dict[WorkerSlot, int]:
        """How many times each slot's worker was started."""
        return {child.slot: child.starts for child in self._children}

    # -- workers -------------------------------------------------------------------------------

    def _start(self, child: _Child) -> None:
        argv = self.worker_command(child.slot)
        port = self._metrics_ports.get(child.slot)
        if port is not None and self.metrics_port_option:
            argv = [*argv, self.metrics_port_option, str(port)]
        env = dict(os.environ)
        env[RUNNER_PID_ENV] = str(os.getpid())
        try:
            child.process = subprocess.Popen(
                argv, env=env, stdin=subprocess.DEVNULL, start_new_session=True
            )
        except OSError as exc:
            child.process = None
            delay = child.backoff.next_delay()
            child.start_at = self.clock.time() + delay
            _logger.error("cannot start worker %s (%s); retrying in %.1fs", child.slot, exc, delay)
            return
        child.started_at = self.clock.time()
        child.starts += 1
        _logger.info("started worker %s (pid %d)", child.slot, child.process.pid)

    def _tend(self) -> None:
        now = self.clock.time()
        for child in self._children:
            process = child.process
            if process is None:
                if now >= child.start_at and not self._stop.is_set():
                    self._start(child)
                continue
            returncode = process.poll()
            if now - child.started_at >= _STABLE_S:  # up long enough, running or not
                child.backoff.reset()
                child.quick_exits = 0
            if returncode is not None:
                self._schedule_restart(child, returncode, now)

    def _schedule_restart(self, child: _Child, returncode: int, now: float) -> None:
        child.process = None
        uptime = now - child.started_at
        if returncode == 0 and uptime >= _FIRST_RESTART_S:
            # A clean exit is a worker recycling itself: replace it at once.
            child.start_at = now
            _logger.info("worker %s exited cleanly after %.1fs; restarting it", child.slot, uptime)
            return
        child.quick_exits += 1
        delay = child.backoff.next_delay()
        child.start_at = now + delay
        how = f"{describe_exit(returncode)} after {uptime:.1f}s"
        if child.quick_exits >= _CRASH_LOOP:
            how = f"is crash-looping: {how} ({child.quick_exits} quick exits in a row)"
            _logger.error("worker %s %s; restarting in %.1fs", child.slot, how, delay)
        else:
            _logger.warning("worker %s died (%s); restarting in %.1fs", child.slot, how, delay)

    # -- stopping ------------------------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, object]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        return {s: signal.signal(s, self._on_signal) for s in (signal.SIGTERM, signal.SIGINT)}

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1
        name = signal.Signals(signum).name
        if self._signals == 1:
            _logger.info("runner received %s: stopping workers", name)
            self._stop.set()
        else:
            _logger.warning("runner received %s again: killing workers now", name)
            self._signal_all(signal.SIGKILL)

    def _running(self) -> list[_Child]:
        return [c for c in self._children if c.process is not None and c.process.poll() is None]

    def _signal_all(self, signum: int) -> None:
        for child in self._running():
            assert child.process is not None
            with contextlib.suppress(ProcessLookupError):
                child.process.send_signal(signum)

    def _shutdown(self, services: list[Service]) -> None:
        self._stop.set()
        for service in reversed(services):
            try:
                service.stop()
            except Exception:
                _logger.exception("service %s failed to stop", service.name)
        self._signal_all(signal.SIGTERM)
        deadline = time.monotonic() + self.settings.SHUTDOWN_TIMEOUT
        while self._running() and time.monotonic() < deadline:
            time.sleep(0.05)
        for child in self._running():
            _logger.warning(
                "worker %s still running after %gs (DQUEUE_SHUTDOWN_TIMEOUT); killing it",
                child.slot,
                self.settings.SHUTDOWN_TIMEOUT,
            )
        self._signal_all(signal.SIGKILL)
        for child in self._children:
            if child.process is not None:
                child.process.wait()
        _logger.info("runner stopped; all workers finished")
