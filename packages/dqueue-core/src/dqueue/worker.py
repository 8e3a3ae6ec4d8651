"""The worker: reserve jobs of one queue, run them, settle their outcomes.

.. code-block:: python

    exit_code = Worker(get_settings(), "default", 1).run()

One worker runs one job at a time (many async ones with ``DQUEUE_ASYNC_CONCURRENCY``:
:mod:`dqueue.async_worker`), in the thread that calls :meth:`Worker.run`: it reserves a batch
(:mod:`dqueue.prefetch`), runs each job with :func:`dqueue.execution.execute`, decides its
outcome (ack, retry with backoff, dead letters) and settles the outcomes in one round trip
after the batch, or at once after a slow job. Metrics, logs, the touch file and the process
title are hooks (:mod:`dqueue.hooks`); a thread renews leases (:mod:`dqueue.leases`), another
beats into the store's worker registry (:mod:`dqueue.heartbeat`).

Run in the main thread of a process, as ``dqueue worker`` and the runner do, a worker enforces
job timeouts (:mod:`dqueue.timeouts`) and stops on SIGTERM or SIGINT: it finishes the running
job, settles it, returns the jobs it has not started (their attempt not counted) and exits 0.
A second signal, or one during a ``sigkill_on_stop`` job, ends the process at once (the lease
brings the job back). A store that went away is retried with capped backoff, keeping the
outcomes it could not settle. The worker exits for its runner to replace it after
``DQUEUE_WORKER_MAX_JOBS`` jobs, ``DQUEUE_WORKER_MAX_IDLE`` seconds or
``DQUEUE_WORKER_MAX_MEMORY_MB``.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import threading
from collections.abc import Callable, Sequence
from typing import Final

from .backends import get_backend
from .backends.base import Backend, Outcome, OutcomeKind
from .backends.pipelining import SettlesAndReserves
from .backoff import Backoff
from .clock import SYSTEM_CLOCK, Clock
from .errors import JobTimeout
from .execution import Execution, decide, execute, failed_execution, progress_sink
from .heartbeat import Heartbeat, registry_for
from .hooks import HookList, ProcessTitle, TouchFile, WorkerHooks, WorkerLog
from .identity import new_worker_id
from .job import Job
from .leases import LeaseKeeper
from .loading import import_plugin_tasks
from .middleware import Middleware, MiddlewareChain, load_middleware
from .prefetch import AdaptivePrefetch
from .proctitle import can_set_process_title
from .recycling import recycle_reason
from .run_log import log_outcome
from .settings import Settings
from .stopping import EXIT_STUCK_JOB, give_up_on, on_stop_signal, settle_until_deadline
from .timeouts import TimeoutGuard

__all__ = ["EXIT_OK", "EXIT_STUCK_JOB", "Worker", "new_worker_id"]

_logger = logging.getLogger("dqueue.worker")

#: The worker stopped cleanly (signal, recycling limit, burst finished).
EXIT_OK: Final = 0

_IDLE_WAIT_S: Final = 1.0  # longest reserve wait: how soon an idle worker notices a signal
_SLOW_JOB_S: Final = 0.1  # settle at once after a job this slow, so a crash loses little
_STORE_BACKOFF: Final = (0.05, 10.0)  # seconds: first and longest wait after a store error


class Worker:
    """Runs the jobs of ``queue`` as worker number ``slot`` (1-based); see the module.

    ``backend`` defaults to ``get_backend(queue)``, ``worker_id`` (the lease owner) to
    :func:`new_worker_id`, ``middleware`` to ``DQUEUE_MIDDLEWARE``. ``burst``: stop once the
    queue has nothing due. ``metrics`` (:class:`dqueue.metrics.WorkerMetrics`) and ``hooks``
    come after the built-in hooks (process title, log, touch file).
    """

    def __init__(
        self,
        settings: Settings,
        queue: str,
        slot: int = 1,
        *,
        backend: Backend | None = None,
        clock: Clock = SYSTEM_CLOCK,
        worker_id: str | None = None,
        middleware: Sequence[Middleware] | None = None,
        burst: bool = False,
        metrics: WorkerHooks | None = None,
        hooks: Sequence[WorkerHooks] = (),
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.slot = slot
        #: ``queue/slot``, as titles and logs show it.
        self.name = f"{queue}/{slot}"
        self.backend = backend if backend is not None else get_backend(queue, settings=settings)
        self.clock = clock
        self.worker_id = worker_id or new_worker_id()
        self.middleware = MiddlewareChain(
            middleware if middleware is not None else load_middleware(settings.MIDDLEWARE)
        )
        self.burst = burst
        progress = self._progress = progress_sink(self.backend, self.worker_id)  # looked up once
        self._execute = functools.partial(execute, worker_id=self.worker_id, progress=progress)
        #: Jobs run so far (released jobs are not counted).
        self.processed = 0
        self.prefetch = AdaptivePrefetch(settings.PREFETCH)
        touch = [TouchFile(settings.TOUCH_FILE, queue, clock=clock)] if settings.TOUCH_FILE else []
        extra = [metrics] if metrics is not None else []
        titles = [ProcessTitle(self.name)] if can_set_process_title() else []
        self.hooks = HookList([*titles, WorkerLog(), *touch, *extra, *hooks])
        self._stop = threading.Event()
        self._leases = LeaseKeeper(
            self.backend,
            worker_id=self.worker_id,
            lease_s=settings.LEASE_SECONDS,
            on_error=self.hooks.store_error,
            clock=clock,
        )
        self._heartbeat = Heartbeat(
            registry_for(self.backend),
            worker_id=self.worker_id,
            name=self.name,
            queue=queue,
            every_s=settings.HEARTBEAT_SECONDS,
            on_error=self.hooks.store_error,
            clock=clock,
        )
        if self._heartbeat.registry is not None:
            self.hooks.add(self._heartbeat)
        # Only the thread running jobs changes these (the watchdog only once that one is stuck).
        self._waiting: list[Job] = []  # reserved, not started
        self._current: Job | None = None
        self._in_flight: dict[str, tuple[Job, float]] = {}  # on the event loop, with their start
        self._pending: list[Outcome] = []  # finished, not yet settled
        # Jobs reserved with the last settle, and when it was sent (a store that can: the module).
        self._ahead: tuple[float, list[Job]] | None = None
        self._asked = 1  # how many jobs the last reserve asked for
        self._pipelined = self.backend if isinstance(self.backend, SettlesAndReserves) else None
        self._reserve_backoff = Backoff(*_STORE_BACKOFF)
        self._settle_backoff = Backoff(*_STORE_BACKOFF)
        self._settle_retry_at = 0.0
        self._last_activity = clock.time()
        # When a reserve last found nothing: a job handed out later was not to be had then.
        self._found_nothing_at: float | None = None
        stuck = functools.partial(give_up_on, self)  # the watchdog's: a job ignored its timeout
        self._guard = TimeoutGuard(settings.TIMEOUT_GRACE, stuck, clock.time)
        self._owns_process = False

    def add_hook(self, hook: WorkerHooks) -> Callable[[], None]:
        """Attach ``hook`` (see :mod:`dqueue.hooks`); return the function that detaches it."""
        return self.hooks.add(hook)

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        """Serve the queue until stopped; return the process exit code (:data:`EXIT_OK`)."""
        import_plugin_tasks()  # a job's task name imports nothing: plugins' tasks must be here
        for warning in self.backend.health_warnings():  # a ConfigurationError: refuse to start
            _logger.warning("worker %s: %s", self.name, warning)
        self._owns_process = threading.current_thread() is threading.main_thread()
        stop_signals = (signal.SIGTERM, signal.SIGINT) if self._owns_process else ()
        on_signal = functools.partial(on_stop_signal, self)
        previous = {signum: signal.signal(signum, on_signal) for signum in stop_signals}
        self._guard.install()
        # At-most-once backends may still track jobs in flight (for status) and expire them
        # through renew/recover; for the rest both are cheap no-ops.
        if not self.backend.runs_inline:
            self._leases.start()
        self._heartbeat.start()
        where = f"queue {self.queue!r} from {self.backend.name}"
        _logger.info("worker %s (%s) serving %s", self.name, self.worker_id, where)
        try:
            self._serve()
        finally:
            self._return_waiting()
            settle_until_deadline(self)
            self._leases.stop()
            self._heartbeat.stop()
            self._guard.close()
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            _logger.info("worker %s stopped after %d job(s)", self.name, self.processed)
        return EXIT_OK

    def _serve(self) -> None:
        if self.settings.ASYNC_CONCURRENCY > 1:
            from .async_worker import serve_concurrently  # here: most workers need no loop

            serve_concurrently(self)
            return
        while not self._stop.is_set() and not self._should_recycle():
            jobs = self._reserve()
            if jobs:
                self._run_batch(jobs)
                continue
            self._flush()
            if self.burst and jobs is not None and not self._pending:
                break

    def stop(self, graceful: bool = True) -> None:
        """Ask the worker to stop (safe from any thread and from signal handlers).

        Graceful: finish the running job, return the others, exit. Not graceful (only a worker that
        owns its process): end the process at once, leaving the running job to its lease.
        """
        if not graceful and self._owns_process:
            _logger.warning("worker %s stopping at once; running job left to its lease", self.name)
            os._exit(EXIT_OK)
        self._stop.set()

    def _should_recycle(self) -> bool:
        reason = recycle_reason(
            self.settings, self.processed, self.clock.time() - self._last_activity
        )
        if reason:
            _logger.info("worker %s exiting: %s", self.name, reason)
        return bool(reason)

    def _reserve(self, limit: int | None = None, wait_s: float | None = None) -> list[Job] | None:
        """Reserve a batch (by default the prefetch's); ``None`` after a store error."""
        for waiting in self.hooks.on_waiting:
            waiting()
        if wait_s is None:
            wait_s = 0.0 if self.burst else _IDLE_WAIT_S
        if self.settings.WORKER_MAX_IDLE is not None:
            left = self.settings.WORKER_MAX_IDLE - (self.clock.time() - self._last_activity)
            wait_s = min(wait_s, max(left, 0.0))
        sent_at, prefetch = self.clock.time(), self.prefetch.limit
        ahead, self._ahead = self._ahead, None  # reserved with the last settle, if any
        try:
            if ahead is not None:
                sent_at, jobs = ahead
            else:
                self._asked = limit or prefetch
                jobs = self.backend.reserve(
                    self.queue, worker_id=self.worker_id, timeout_s=wait_s, limit=self._asked
                )
        except Exception as exc:
            self._stop.wait(self._store_failed("reserve", exc, self._reserve_backoff))
            return None
        if self._reserve_backoff.failures:
            _logger.info("worker %s reaches %s again", self.name, self.backend.name)
            self._reserve_backoff.reset()
        if jobs:
            self._leases.hold((job.id for job in jobs), sent_at)
            self._waiting = list(jobs)
        else:
            self._found_nothing_at = sent_at
        return jobs

    def _store_failed(self, operation: str, exc: Exception, backoff: Backoff) -> float:
        """Count and log a failed store call; return how long to wait before the next try."""
        self.hooks.store_error(operation)
        delay = backoff.next_delay()
        what = f"{operation} at {self.backend.name} ({exc})"
        _logger.warning("worker %s could not %s; retrying in %.2fs", self.name, what, delay)
        return delay

    def _run_batch(self, jobs: list[Job]) -> None:
        durations: list[float] = []
        limit = self.settings.WORKER_MAX_JOBS
        for job in jobs:
            if self._stop.is_set() or (limit is not None and self.processed >= limit):
                break
            if not self._admit(job):
                continue
            outcome = self._run_one(job)
            duration = (outcome.finished_at or 0.0) - (outcome.started_at or 0.0)
            durations.append(duration)
            if duration >= _SLOW_JOB_S:
                self._flush()
        self._return_waiting()
        self.prefetch.observe(durations)
        more = limit is None or self.processed < limit  # else the worker exits: reserve nothing
        # Only a full batch suggests more jobs wait: after a short one (a trickle, or the end of
        # a backlog), reserving with the settle would mostly find nothing, and cost a look more.
        full = len(jobs) >= self._asked
        self._flush(reserve_next=more and full and not self._stop.is_set())

    def _admit(self, job: Job) -> bool:
        """Take ``job`` off the waiting list to start it: ``False`` if its lease is not sure."""
        self._waiting.remove(job)
        if job.id in self._leases.lost:
            self._leases.drop([job.id])
            return False
        if self.backend.supports_leases and self._leases.expired(job.id):
            # Another worker may have it by now: give it back unstarted (refused if lost).
            _logger.warning("worker %s: the lease of %s may have run out", self.name, job.id)
            self._pending.append(Outcome(job=job, kind=OutcomeKind.RELEASE))
            return False
        for started in self.hooks.on_job_started:
            started(job)
        return True

    def _run_one(self, job: Job) -> Outcome:
        self._current = job
        self._guard.arm(job)
        started = self.clock.time()
        try:
            execution = self._execute(job, middleware=self.middleware, now=self.clock.time)
        except (JobTimeout, SystemExit) as exc:
            # Raised between the task's end and the timer's disarming, or a task's sys.exit().
            execution = failed_execution(job, exc, started, self.clock.time())
        finally:
            timed_out = self._guard.disarm()
        if timed_out and execution.ok:
            # It swallowed the JobTimeout and returned: it still ran past its timeout.
            timeout = JobTimeout(f"{job.describe()} timed out after {job.timeout:g}s")
            execution = failed_execution(job, timeout, execution.started_at, execution.finished_at)
        self._current = None
        return self._finish(execution)

    def _finish(self, execution: Execution) -> Outcome:
        """Decide the outcome of a run, tell the hooks, and queue it for the next settle."""
        outcome = self._decide(execution)
        log_outcome(outcome, execution.exception)
        for finished in self.hooks.on_job_finished:
            finished(outcome)
        self._pending.append(outcome)
        self.processed += 1
        self._last_activity = outcome.finished_at or self.clock.time()
        return outcome

    def _decide(self, execution: Execution) -> Outcome:
        """The outcome of ``execution``; its lateness counts from when the job was to be had.

        A job due before this worker's last reserve that found nothing was not to be had then
        (its queue was paused, or it was a dead letter or not stored yet): that wait is not
        lateness.
        """
        return decide(execution, self.settings, available_at=self._found_nothing_at)

    def _return_waiting(self) -> None:
        """Give back reserved jobs that were not started (attempt not counted)."""
        ahead, self._ahead = self._ahead, None  # reserved with the last settle, not taken
        waiting, self._waiting = self._waiting + (ahead[1] if ahead else []), []
        lost = self._leases.lost
        returned = [job for job in waiting if job.id not in lost]
        self._leases.drop([job.id for job in waiting if job.id in lost])
        self._pending.extend(Outcome(job=job, kind=OutcomeKind.RELEASE) for job in returned)
        if returned:
            _logger.info("worker %s returns %d job(s) it did not start", self.name, len(returned))

    # -- settling ----------------------------------------------------------------------------

    def _flush(self, *, force: bool = False, reserve_next: bool = False) -> bool:
        """Settle pending outcomes; ``False`` if the store failed (they are kept for later).

        ``reserve_next``: a store that can (:mod:`dqueue.backends.pipelining`) reserves the
        next batch in the same round trip, for the next :meth:`_reserve` to take.
        """
        if not self._pending or (not force and self.clock.time() < self._settle_retry_at):
            return not self._pending
        batch, self._pending = self._pending, []
        dropped: list[Outcome] = []
        if lost_leases := self._leases.lost.copy():
            dropped = [o for o in batch if o.job.id in lost_leases]
            batch = [o for o in batch if o.job.id not in lost_leases]
        self._leases.settling(o.job.id for o in batch)
        try:
            lost = self._settle(batch, reserve_next) if batch else []
        except Exception as exc:
            self._pending[:0] = batch
            delay = self._store_failed("settle", exc, self._settle_backoff)
            self._settle_retry_at = self.clock.time() + delay
            batch, lost = [], []  # only the dropped outcomes are done with
        else:
            self._settle_backoff.reset()
            self._settle_retry_at = 0.0
        self.hooks.settled(batch, lost, dropped)
        self._leases.drop([o.job.id for o in batch] + [o.job.id for o in dropped])
        return not self._pending

    def _settle(self, batch: list[Outcome], reserve_next: bool) -> list[str]:
        """Settle ``batch``; the ids whose lease was lost (``reserve_next``: see _flush)."""
        if not reserve_next or self._pipelined is None:
            return self.backend.settle(batch, worker_id=self.worker_id)
        sent_at, limit = self.clock.time(), self.prefetch.limit
        self._asked = limit
        lost, jobs = self._pipelined.settle_and_reserve(
            batch, self.queue, worker_id=self.worker_id, limit=limit
        )
        if jobs:
            self._ahead = (sent_at, jobs)
        return lost
