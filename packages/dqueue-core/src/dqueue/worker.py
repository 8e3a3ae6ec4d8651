"""The worker: reserve jobs of one queue, run them, settle their outcomes.

.. code-block:: python

    from dqueue.settings import get_settings
    from dqueue.worker import Worker

    exit_code = Worker(get_settings(), "default", 1).run()

One worker runs one job at a time, in the thread that calls :meth:`Worker.run`. The loop:
reserve a batch (see :mod:`dqueue.prefetch`), run each job through
:func:`dqueue.execution.execute` with the configured middleware, turn it into an outcome with
:func:`dqueue.execution.decide` (ack, retry with backoff, or dead letters), and settle the
outcomes in one round trip after the batch (at once after a slow job, so a crash loses little).

Run in the main thread of a process, as ``dqueue worker`` and the runner do, a worker also:

- stops gracefully on SIGTERM or SIGINT: it finishes the running job, settles it, returns the
  prefetched jobs it has not started (their attempt is not counted) and exits 0. A second
  signal, or a signal while a ``sigkill_on_stop`` job runs, ends the process at once; on an
  at-least-once backend the lease brings the job back.
- enforces job timeouts (see :mod:`dqueue.timeouts`).

It renews the leases of the jobs it holds and recovers expired ones (:mod:`dqueue.leases`),
retries a store that went away with capped exponential backoff (it never exits for that, and
keeps outcomes it could not settle until it can), and exits cleanly for the runner to replace it
after ``DQUEUE_WORKER_MAX_JOBS`` jobs, ``DQUEUE_WORKER_MAX_IDLE`` idle seconds or above
``DQUEUE_WORKER_MAX_MEMORY_MB``.
"""

from __future__ import annotations

import logging
import os
import secrets
import signal
import threading
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING, Final

from .backends import get_backend
from .backends.base import Backend, Outcome, OutcomeKind
from .backoff import Backoff
from .clock import SYSTEM_CLOCK, Clock
from .errors import JobTimeout
from .execution import Execution, decide, execute
from .job import Job, JobFailure, process_identity
from .leases import LeaseKeeper
from .middleware import load_middleware
from .prefetch import AdaptivePrefetch
from .proctitle import set_process_title
from .registry import REGISTRY
from .settings import Settings
from .timeouts import JobTimer, Watchdog
from .worker_support import TouchFile, memory_mb, runner_is_gone

if TYPE_CHECKING:
    from .worker_metrics import WorkerMetrics

__all__ = ["EXIT_OK", "EXIT_STUCK_JOB", "Worker", "new_worker_id"]

_logger = logging.getLogger("dqueue.worker")

#: The worker stopped cleanly (signal, recycling limit, burst finished).
EXIT_OK: Final = 0
#: A job ignored its timeout; the worker settled it as failed and ended its process.
EXIT_STUCK_JOB: Final = 70

_IDLE_WAIT_S: Final = 1.0  # longest reserve wait: how soon an idle worker notices a signal
_SLOW_JOB_S: Final = 0.1  # settle at once after a job this slow, so a crash loses little
_SHUTDOWN_SETTLE_S: Final = 5.0  # how long a stopping worker keeps trying to settle
_STORE_BACKOFF = (0.05, 10.0)  # seconds: first and longest wait after a store error


def new_worker_id() -> str:
    """``host:pid:random``: unique even for equal slot numbers on two hosts or deploys."""
    return f"{process_identity()}:{secrets.token_hex(4)}"


class Worker:
    """Runs the jobs of ``queue`` as worker number ``slot``; see the module docstring.

    Args:
        settings: the effective settings.
        queue: the queue to serve.
        slot: this worker's number within its queue (1-based), for titles and logs.
        backend: the store (``get_backend(queue)`` by default).
        clock: the source of time for due times, lateness and idle limits.
        worker_id: the lease owner id (:func:`new_worker_id` by default).
        middleware: middleware instances (``DQUEUE_MIDDLEWARE`` by default).
        burst: stop as soon as the queue has nothing due (tests, ``dqueue worker --burst``).
        metrics: where to count jobs, durations and store errors for Prometheus
            (:mod:`dqueue.worker_metrics`); ``None``, the default, costs nothing.
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
        middleware: Sequence[object] | None = None,
        burst: bool = False,
        metrics: WorkerMetrics | None = None,
    ) -> None:
        self.settings = settings
        self.queue = queue
        self.slot = slot
        self.backend = backend if backend is not None else get_backend(queue, settings=settings)
        self.clock = clock
        self.worker_id = worker_id or new_worker_id()
        self.middleware = (
            list(middleware) if middleware is not None else load_middleware(settings.MIDDLEWARE)
        )
        self.burst = burst
        self.metrics = metrics
        #: Jobs run so far (released jobs are not counted).
        self.processed = 0
        self.prefetch = AdaptivePrefetch(settings.PREFETCH)
        self._stop = threading.Event()
        self._state = threading.Lock()  # guards the job bookkeeping below across threads
        self._settling = threading.Lock()
        self._held: dict[str, Job] = {}  # reserved and not yet settled
        self._waiting: list[Job] = []  # reserved, not started
        self._pending: list[Outcome] = []  # finished, not yet settled
        self._lost: set[str] = set()
        self._current: Job | None = None
        self._current_started = 0.0
        self._given_up = False  # the watchdog is ending the process
        self._settle_retry_at = 0.0
        self._store_backoff = Backoff(*_STORE_BACKOFF)
        self._settle_backoff = Backoff(*_STORE_BACKOFF)
        self._timer = JobTimer()
        self._touch = TouchFile(settings.TOUCH_FILE, queue, clock=clock)
        self._last_activity = clock.time()
        self._warned_timeout = False
        self._in_main_thread = False

    @property
    def name(self) -> str:
        """``queue/slot``, as titles and logs show it."""
        return f"{self.queue}/{self.slot}"

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> int:
        """Serve the queue until stopped; return the process exit code (:data:`EXIT_OK`)."""
        self._in_main_thread = threading.current_thread() is threading.main_thread()
        previous_handlers = self._install_signal_handlers() if self._in_main_thread else {}
        self._timer.install()
        watchdog = Watchdog(self._give_up_on)
        watchdog.start()
        keeper = self._start_lease_keeper()
        _logger.info(
            "worker %s (%s) serving queue %r from %s",
            self.name,
            self.worker_id,
            self.queue,
            self.backend.name,
        )
        try:
            while not self._stop.is_set() and not self._should_recycle():
                jobs = self._reserve()
                if jobs:
                    self._run_batch(jobs, watchdog)
                    continue
                self._flush()
                if self.burst and jobs is not None and not self._pending:
                    break
        finally:
            self._finish(keeper, watchdog, previous_handlers)
        return EXIT_OK

    def stop(self, graceful: bool = True) -> None:
        """Ask the worker to stop (safe from any thread and from signal handlers).

        Graceful: finish the running job, return the others, exit. Not graceful, in a worker
        that owns its process (``run()`` in the main thread): end the process at once, leaving
        the running job to its lease. A worker in another thread can't be killed; it stops
        gracefully.
        """
        if not graceful and self._owns_process():
            _logger.warning("worker %s stopping at once; running job left to its lease", self.name)
            os._exit(EXIT_OK)
        self._stop.set()

    def _owns_process(self) -> bool:
        return self._in_main_thread

    def _should_recycle(self) -> bool:
        settings = self.settings
        reason = ""
        if settings.WORKER_MAX_JOBS is not None and self.processed >= settings.WORKER_MAX_JOBS:
            reason = f"ran {self.processed} jobs (DQUEUE_WORKER_MAX_JOBS)"
        elif settings.WORKER_MAX_IDLE is not None and (
            self.clock.time() - self._last_activity >= settings.WORKER_MAX_IDLE
        ):
            reason = f"idle for {settings.WORKER_MAX_IDLE:g}s (DQUEUE_WORKER_MAX_IDLE)"
        elif settings.WORKER_MAX_MEMORY_MB is not None and self.processed:
            used = memory_mb()
            if used is not None and used > settings.WORKER_MAX_MEMORY_MB:
                reason = f"uses {used:.0f} MB (DQUEUE_WORKER_MAX_MEMORY_MB)"
        elif runner_is_gone():
            reason = "its runner is gone"
        if reason:
            _logger.info("worker %s exiting: %s", self.name, reason)
        return bool(reason)

    def _reserve(self) -> list[Job] | None:
        """Reserve a batch; ``None`` after a store error (already waited out)."""
        set_process_title(f"dqueue worker {self.name} [idle]")
        wait_s = 0.0 if self.burst else _IDLE_WAIT_S
        if self.settings.WORKER_MAX_IDLE is not None:
            left = self.settings.WORKER_MAX_IDLE - (self.clock.time() - self._last_activity)
            wait_s = min(wait_s, max(left, 0.0))
        try:
            jobs = self.backend.reserve(
                self.queue, worker_id=self.worker_id, timeout_s=wait_s, limit=self.prefetch.limit
            )
        except Exception as exc:
            if self.metrics is not None:
                self.metrics.store_error("reserve")
            delay = self._store_backoff.next_delay()
            _logger.warning(
                "worker %s could not reserve from %s (%s); retrying in %.2fs",
                self.name,
                self.backend.name,
                exc,
                delay,
            )
            self._stop.wait(delay)
            return None
        if self._store_backoff.failures:
            _logger.info("worker %s reaches %s again", self.name, self.backend.name)
            self._store_backoff.reset()
        if jobs:
            with self._state:
                self._held.update((job.id, job) for job in jobs)
                self._lost.difference_update(job.id for job in jobs)
                self._waiting = list(jobs)
        return jobs

    def _run_batch(self, jobs: list[Job], watchdog: Watchdog) -> None:
        durations: list[float] = []
        for job in jobs:
            with self._state:
                if self._stop.is_set() or self._should_stop_taking():
                    break
                self._waiting.remove(job)
                if job.id in self._lost:
                    self._held.pop(job.id, None)
                    self._lost.discard(job.id)
                    continue
                self._current = job
                self._current_started = self.clock.time()
            metrics = self.metrics
            if metrics is not None:
                metrics.job_started()
            outcome = self._run_one(job, watchdog)
            if metrics is not None:
                metrics.job_finished(outcome)
            with self._state:
                self._current = None
                self._pending.append(outcome)
            self.processed += 1
            self._last_activity = self.clock.time()
            duration = (outcome.finished_at or 0.0) - (outcome.started_at or 0.0)
            durations.append(duration)
            if outcome.kind is OutcomeKind.ACK:
                self._touch.touch()
            if duration >= _SLOW_JOB_S:
                self._flush()
        self._return_waiting()
        self.prefetch.observe(durations)
        self._flush()

    def _should_stop_taking(self) -> bool:
        limit = self.settings.WORKER_MAX_JOBS
        return limit is not None and self.processed >= limit

    def _run_one(self, job: Job, watchdog: Watchdog) -> Outcome:
        set_process_title(f"dqueue worker {self.name} [running {job.describe()}]")
        self._timer.fired = False  # a previous job's timeout says nothing about this one
        if job.timeout is not None:
            if self._timer.available:
                watchdog.watch(job, job.timeout + self.settings.TIMEOUT_GRACE)
            elif not self._warned_timeout:
                self._warned_timeout = True
                _logger.warning("timeouts are enforced only by a worker in its main thread")
            self._timer.arm(job, job.timeout)
        started = self.clock.time()
        try:
            execution = execute(
                job, worker_id=self.worker_id, middleware=self.middleware, now=self.clock.time
            )
        except (JobTimeout, SystemExit) as exc:
            # Raised between the task's end and the timer's disarming, or a task's sys.exit().
            execution = _failed(job, exc, started, self.clock.time())
        finally:
            self._timer.disarm()
            watchdog.clear()
        if self._given_up:
            threading.Event().wait()  # the watchdog settles this job and ends the process
        if self._timer.fired and execution.ok:
            # It swallowed the JobTimeout and returned: it still ran past its timeout.
            timeout = JobTimeout(f"{job.describe()} timed out after {job.timeout:g}s")
            execution = _failed(job, timeout, execution.started_at, execution.finished_at)
        outcome = decide(execution, self.settings)
        if outcome.lateness_s is not None:
            _logger.debug("%s started %.1f ms late", job.describe(), outcome.lateness_s * 1000)
        return outcome

    def _return_waiting(self) -> None:
        """Give back reserved jobs that were not started (attempt not counted)."""
        with self._state:
            waiting, self._waiting = self._waiting, []
            returned = [job for job in waiting if job.id not in self._lost]
            for job in waiting:
                if job.id in self._lost:
                    self._held.pop(job.id, None)
                    self._lost.discard(job.id)
            self._pending.extend(Outcome(job=job, kind=OutcomeKind.RELEASE) for job in returned)
        if returned:
            _logger.info("worker %s returns %d job(s) it did not start", self.name, len(returned))

    # -- settling ----------------------------------------------------------------------------

    def _flush(self, *, force: bool = False) -> bool:
        """Settle pending outcomes; ``False`` if the store failed (they are kept for later)."""
        if not self._pending or (not force and self.clock.time() < self._settle_retry_at):
            return not self._pending
        with self._settling:
            with self._state:
                dropped = [o for o in self._pending if o.job.id in self._lost]
                batch = [o for o in self._pending if o.job.id not in self._lost]
            for outcome in dropped:
                _logger.warning(
                    "lease of %s was lost; its outcome (%s) is dropped, another worker owns it",
                    outcome.job.describe(),
                    outcome.kind.value,
                )
            try:
                lost = self.backend.settle(batch, worker_id=self.worker_id) if batch else []
            except Exception as exc:
                if self.metrics is not None:
                    self.metrics.store_error("settle")
                    self.metrics.settled((), (), dropped)  # they are gone either way
                with self._state:
                    self._pending = batch
                delay = self._settle_backoff.next_delay()
                self._settle_retry_at = self.clock.time() + delay
                _logger.warning(
                    "worker %s could not settle %d outcome(s) (%s); retrying in %.2fs",
                    self.name,
                    len(batch),
                    exc,
                    delay,
                )
                return False
            self._settle_backoff.reset()
            self._settle_retry_at = 0.0
            if self.metrics is not None:
                self.metrics.settled(batch, lost, dropped)
            for job_id in lost:
                _logger.warning("lease of job %s was lost before it was settled", job_id)
            with self._state:
                settled = {o.job.id for o in batch} | {o.job.id for o in dropped}
                self._pending = [o for o in self._pending if o.job.id not in settled]
                for job_id in settled:
                    self._held.pop(job_id, None)
                    self._lost.discard(job_id)
            return True

    def _on_lost(self, job_ids: Sequence[str]) -> None:
        with self._state:
            # An id settled a moment ago is no longer held: that is not a loss.
            lost = [job_id for job_id in job_ids if job_id in self._held]
            self._lost.update(lost)
        if lost:
            _logger.warning("worker %s lost the lease of %d job(s)", self.name, len(lost))

    def _held_ids(self) -> list[str]:
        with self._state:
            return list(self._held)

    def _start_lease_keeper(self) -> LeaseKeeper | None:
        # At-most-once backends may still track jobs in flight (for status) and expire them
        # through renew/recover; for the rest both are cheap no-ops.
        if self.backend.runs_inline:
            return None
        keeper = LeaseKeeper(
            self.backend,
            worker_id=self.worker_id,
            lease_s=self.settings.LEASE_SECONDS,
            held=self._held_ids,
            on_lost=self._on_lost,
            on_error=self.metrics.store_error if self.metrics is not None else None,
        )
        keeper.start()
        return keeper

    def _finish(
        self,
        keeper: LeaseKeeper | None,
        watchdog: Watchdog,
        previous_handlers: dict[int, object],
    ) -> None:
        self._return_waiting()
        deadline = self.clock.time() + _SHUTDOWN_SETTLE_S
        while not self._flush(force=True) and self.clock.time() < deadline:
            threading.Event().wait(0.1)
        if self._pending:
            _logger.error(
                "worker %s stops with %d unsettled outcome(s); their leases will bring them back",
                self.name,
                len(self._pending),
            )
        if keeper is not None:
            keeper.stop()
        watchdog.close()
        self._timer.uninstall()
        for signum, handler in previous_handlers.items():
            signal.signal(signum, handler)  # type: ignore[arg-type]
        _logger.info("worker %s stopped after %d job(s)", self.name, self.processed)

    # -- signals and stuck jobs --------------------------------------------------------------

    def _install_signal_handlers(self) -> dict[int, object]:
        previous: dict[int, object] = {}
        for signum in (signal.SIGTERM, signal.SIGINT):
            previous[signum] = signal.signal(signum, self._on_stop_signal)
        return previous

    def _on_stop_signal(self, signum: int, frame: FrameType | None) -> None:
        name = signal.Signals(signum).name
        current = self._current
        if self._stop.is_set():
            _logger.warning("worker %s: second %s, stopping at once", self.name, name)
            os._exit(128 + signum)
        if current is not None and current.sigkill_on_stop:
            _logger.warning(
                "worker %s: %s while running %s (sigkill_on_stop), stopping at once",
                self.name,
                name,
                current.describe(),
            )
            os._exit(128 + signum)
        _logger.info("worker %s: %s, stopping after the running job", self.name, name)
        self._stop.set()

    def _give_up_on(self, job: Job) -> None:
        """Called by the watchdog: ``job`` ignored its timeout. Settle it, end the process."""
        self._given_up = True
        _logger.error(
            "%s did not stop within %gs of its %gs timeout; settling it as failed and "
            "replacing this worker process",
            job.describe(),
            self.settings.TIMEOUT_GRACE,
            job.timeout or 0.0,
        )
        timeout = JobTimeout(
            f"{job.describe()} timed out after {job.timeout or 0:g}s; worker killed"
        )
        execution = _failed(job, timeout, self._current_started, self.clock.time())
        outcome = decide(execution, self.settings)
        with self._state:
            self._current = None
            self._pending.append(outcome)
        self._return_waiting()
        deadline = self.clock.time() + _SHUTDOWN_SETTLE_S
        while not self._flush(force=True) and self.clock.time() < deadline:
            threading.Event().wait(0.1)
        logging.shutdown()
        os._exit(EXIT_STUCK_JOB)


def _failed(job: Job, exc: BaseException, started: float, finished: float) -> Execution:
    return Execution(
        job=job,
        started_at=started,
        finished_at=finished,
        exception=exc,
        failure=JobFailure.from_exception(exc, at=finished, attempt=job.attempt),
        task=REGISTRY.get(job.task),
    )
