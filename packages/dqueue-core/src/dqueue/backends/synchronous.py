"""``SynchronousBackend``: the default. It runs each job inline, at enqueue, in the caller.

Meant for development and tests: no worker, no store. A task's exception propagates to the
caller (``DQUEUE_SYNCHRONOUS_RAISE = False`` restores django-lightweight-queue's
log-and-swallow behaviour). Delayed jobs run at once, with a warning in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import ClassVar

from ..errors import UnsupportedOperation
from ..job import Job, process_identity
from .base import Backend, JobResult, Outcome, QueueCounts

__all__ = ["SynchronousBackend"]

_logger = logging.getLogger("dqueue.backends.synchronous")


class SynchronousBackend(Backend):
    """Runs jobs inline at enqueue."""

    supports_delay: ClassVar[bool] = False
    supports_pause: ClassVar[bool] = False
    supports_dedup: ClassVar[bool] = False
    supports_workers: ClassVar[bool] = False
    runs_inline: ClassVar[bool] = True

    def enqueue(self, job: Job) -> str:
        """Run ``job`` now; re-raise its exception unless ``DQUEUE_SYNCHRONOUS_RAISE`` is off."""
        from ..execution import execute
        from ..middleware import load_middleware

        if job.run_after is not None and job.run_after > self.clock.time():
            _logger.warning("%s has a delay; the synchronous backend runs it now", job.describe())
        running = job.with_changes(attempt=job.attempt + 1)
        execution = execute(
            running,
            worker_id=f"{process_identity()}:inline",
            middleware=load_middleware(self.settings.MIDDLEWARE),
            now=self.clock.time,
        )
        if execution.exception is not None and self.settings.SYNCHRONOUS_RAISE:
            raise execution.exception
        return job.id

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        """Nothing is ever queued: wait ``timeout_s`` and return nothing."""
        self.clock.sleep(timeout_s)
        return []

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        """Nothing to settle."""
        return []

    def queues(self) -> list[str]:
        """No queue holds anything."""
        return []

    def counts(self, queue: str) -> QueueCounts:
        """Always empty."""
        return QueueCounts(queue=queue)

    def result(self, job_id: str) -> JobResult | None:
        """Results of inline runs are returned by ``Task.call``; nothing is kept."""
        return None

    def clear(self, queue: str) -> int:
        """Nothing to clear."""
        return 0

    def pause(self, queue: str, until: float | None) -> None:
        """Inline runs can't be paused."""
        raise UnsupportedOperation("the synchronous backend runs jobs inline; it cannot pause")
