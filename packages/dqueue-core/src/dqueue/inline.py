"""``SynchronousBackend``: the default. It runs each job inline, at enqueue, in the caller.

Meant for development and tests: no worker, no store. It is a dispatcher, not a store, so it
lives beside the execution code rather than among the stores (``dqueue.backends``): it runs each
enqueued job through the same execution path and middleware as a worker, so a task behaves alike
in development and in production. ``DQUEUE_BACKEND = "synchronous"`` or the seed's dotted path
``dqueue.backends.synchronous.SynchronousBackend`` name it (both are registered entry points).

It is not silent about it: when ``DQUEUE_BACKEND`` was never set, the first enqueue logs a
warning naming the setting, and status shows that nothing is queued. A task's exception
propagates to the caller (``DQUEUE_SYNCHRONOUS_RAISE = False`` restores
django-lightweight-queue's log-and-swallow behaviour). Delayed jobs run at once, and the log
says so. Results asked for (``store_result``) are kept in this process for ``result_ttl``,
with the last progress the task reported (``dqueue.set_progress``); a job that keeps no result
keeps no progress either (nobody could read it while it runs: it runs in the caller).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Any, ClassVar, Self

from .backends.base import Backend, JobResult, JobStatus, Outcome, QueueCounts
from .clock import SYSTEM_CLOCK, Clock
from .execution import Execution, execute
from .identity import process_identity
from .job import Job
from .json_values import decode_progress, encode_progress
from .middleware import load_middleware
from .run_log import user_frames
from .settings import Settings

__all__ = ["SynchronousBackend"]

_logger = logging.getLogger("dqueue.backends.synchronous")

NOT_CONFIGURED = (
    "DQUEUE_BACKEND is not set, so tasks run inline: each job runs in this process when it is "
    "enqueued, and nothing is queued for workers. Set DQUEUE_BACKEND (such as 'sqlite' or "
    "'redis') to queue jobs, or to 'synchronous' to keep running them inline without this warning"
)
NOTHING_QUEUED = "nothing is queued: the synchronous backend runs every task inline, at enqueue"


class SynchronousBackend(Backend):
    """Runs jobs inline at enqueue, through the ``run`` callable it is given (see the module)."""

    supports_delay: ClassVar[bool] = False
    supports_results: ClassVar[bool] = True  # of the jobs it ran, in this process
    supports_pause: ClassVar[bool] = False
    supports_dedup: ClassVar[bool] = False
    supports_workers: ClassVar[bool] = False
    runs_inline: ClassVar[bool] = True

    def __init__(
        self,
        run: Callable[[Job], Execution | None],
        *,
        clock: Clock = SYSTEM_CLOCK,
        configured: bool = True,
    ) -> None:
        super().__init__(clock=clock)
        self._run = run
        self._unwarned = not configured  # warn once, at the first enqueue
        self._results: dict[str, tuple[float, JobResult]] = {}  # id -> (expiry, record)
        self._progress: dict[str, Any] = {}  # id -> the last progress of a job running now
        self._prune_at = 1024
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Self:
        """A dispatcher that runs each job now, as its first attempt, with the settings' middleware.

        The task's exception propagates unless ``DQUEUE_SYNCHRONOUS_RAISE`` is off.
        """
        middleware = load_middleware(settings.MIDDLEWARE)

        def run(job: Job) -> Execution:
            running = job.with_changes(attempt=job.attempt + 1)
            worker_id = f"{process_identity()}:inline"
            execution = execute(
                running,
                worker_id=worker_id,
                middleware=middleware,
                now=clock.time,
                progress=backend.keep_progress,
            )
            if execution.exception is not None:
                if settings.SYNCHRONOUS_RAISE:
                    raise execution.exception
                exc = execution.exception
                _logger.warning(
                    "%s failed (DQUEUE_SYNCHRONOUS_RAISE is off: not raised)",
                    running.describe(),
                    exc_info=(type(exc), exc, user_frames(exc.__traceback__)),
                )
            return execution

        backend = cls(run, clock=clock, configured="BACKEND" in settings.given)
        return backend

    def keep_progress(self, job: Job, progress: Any) -> bool:
        """Keep the progress of ``job``, running now, for its result record (if it keeps one)."""
        text = encode_progress(progress)  # refused as a store would refuse it
        if job.result_ttl is None:
            return False
        self._progress[job.id] = decode_progress(text)  # a copy: the task may change its value
        return True

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Run each job now, in order; the first exception stops the rest (see the module)."""
        if self._unwarned:
            self._unwarned = False
            _logger.warning(NOT_CONFIGURED)
        for job in jobs:
            late = job.run_after is not None and job.run_after > self.clock.time()
            try:
                execution = self._run(job)
            finally:
                progress = self._progress.pop(job.id, None)
                if late:
                    _logger.warning(
                        "%s ran now, not when due: the synchronous backend runs every job at "
                        "enqueue (set DQUEUE_BACKEND to a store to delay jobs)",
                        job.describe(),
                    )
            if execution is not None and job.result_ttl is not None:
                self._keep(execution, job.result_ttl, progress)
        return [job.id for job in jobs]

    def _keep(self, execution: Execution, ttl_s: float, progress: Any) -> None:
        job = execution.job
        record = JobResult(
            job_id=job.id,
            status=JobStatus.SUCCEEDED if execution.ok else JobStatus.DEAD,
            task=job.task,
            queue=job.queue,
            return_value=execution.result,
            failures=() if execution.failure is None else (execution.failure,),
            enqueued_at=job.enqueued_at,
            started_at=execution.started_at,
            finished_at=execution.finished_at,
            attempt=job.attempt,
            worker_ids=(f"{process_identity()}:inline",),
            args=job.args,
            kwargs=job.kwargs,
            progress=progress,
        )
        now = self.clock.time()
        with self._lock:
            if len(self._results) >= self._prune_at:  # amortised: a bulk enqueue stays linear
                for job_id in [i for i, (expiry, _) in self._results.items() if expiry <= now]:
                    del self._results[job_id]
                self._prune_at = max(1024, 2 * len(self._results))
            self._results[job.id] = (now + ttl_s, record)

    def result(self, job_id: str) -> JobResult | None:
        """The outcome of a job run here that asked for it, until its ``result_ttl`` ran out."""
        with self._lock:
            kept = self._results.get(job_id)
        if kept is None or kept[0] <= self.clock.time():
            return None
        return kept[1]

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        """Nothing is ever queued: wait ``timeout_s`` and return nothing."""
        self.clock.sleep(timeout_s)
        return []

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        """Nothing to settle."""
        return []

    def counts(self, queue: str) -> QueueCounts:
        """Always empty."""
        return QueueCounts(queue=queue)

    def health_warnings(self) -> list[str]:
        """Says that nothing is queued, so that status's zeros are not taken for an idle queue."""
        return [NOTHING_QUEUED]
