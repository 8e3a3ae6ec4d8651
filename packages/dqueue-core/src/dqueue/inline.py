"""``SynchronousBackend``: the default. It runs each job inline, at enqueue, in the caller.

Meant for development and tests: no worker, no store. It is a dispatcher, not a store, so it
lives beside the execution code rather than among the stores (``dqueue.backends``): it runs each
enqueued job through the same execution path and middleware as a worker, so a task behaves alike
in development and in production. ``DQUEUE_BACKEND = "synchronous"`` or the seed's dotted path
``dqueue.backends.synchronous.SynchronousBackend`` name it (both are registered entry points).

A task's exception propagates to the caller (``DQUEUE_SYNCHRONOUS_RAISE = False`` restores
django-lightweight-queue's log-and-swallow behaviour). Delayed jobs run at once, with a warning.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import ClassVar, Self

from .backends.base import Backend, Outcome, QueueCounts
from .clock import SYSTEM_CLOCK, Clock
from .execution import execute
from .identity import process_identity
from .job import Job
from .middleware import load_middleware
from .run_log import user_frames
from .settings import Settings

__all__ = ["SynchronousBackend"]

_logger = logging.getLogger("dqueue.backends.synchronous")


class SynchronousBackend(Backend):
    """Runs jobs inline at enqueue, through the ``run`` callable it is given (see the module)."""

    supports_delay: ClassVar[bool] = False
    supports_pause: ClassVar[bool] = False
    supports_dedup: ClassVar[bool] = False
    supports_workers: ClassVar[bool] = False
    runs_inline: ClassVar[bool] = True

    def __init__(self, run: Callable[[Job], None], *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(clock=clock)
        self._run = run

    @classmethod
    def from_settings(cls, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Self:
        """A dispatcher that runs each job now, as its first attempt, with the settings' middleware.

        The task's exception propagates unless ``DQUEUE_SYNCHRONOUS_RAISE`` is off.
        """
        middleware = load_middleware(settings.MIDDLEWARE)

        def run(job: Job) -> None:
            running = job.with_changes(attempt=job.attempt + 1)
            worker_id = f"{process_identity()}:inline"
            execution = execute(running, worker_id=worker_id, middleware=middleware, now=clock.time)
            if execution.exception is not None:
                if settings.SYNCHRONOUS_RAISE:
                    raise execution.exception
                exc = execution.exception
                _logger.warning(
                    "%s failed (DQUEUE_SYNCHRONOUS_RAISE is off: not raised)",
                    running.describe(),
                    exc_info=(type(exc), exc, user_frames(exc.__traceback__)),
                )

        return cls(run, clock=clock)

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Run each job now, in order; the first exception stops the rest (see the module)."""
        for job in jobs:
            if job.run_after is not None and job.run_after > self.clock.time():
                _logger.warning(
                    "%s has a delay; the synchronous backend runs it now", job.describe()
                )
            self._run(job)
        return [job.id for job in jobs]

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
