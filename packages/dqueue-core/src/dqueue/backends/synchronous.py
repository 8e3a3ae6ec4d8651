"""``SynchronousBackend``: the default. It runs each job inline, at enqueue, in the caller.

Meant for development and tests: no worker, no store. It is a dispatcher, not a store: it is
built with the callable that runs a job (:func:`dqueue.inline.inline_runner`) and knows
nothing of execution or middleware itself. A task's exception propagates to the caller
(``DQUEUE_SYNCHRONOUS_RAISE = False`` restores django-lightweight-queue's log-and-swallow
behaviour). Delayed jobs run at once, with a warning in the log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import ClassVar, Self

from ..clock import SYSTEM_CLOCK, Clock
from ..job import Job
from ..settings import Settings
from .base import Backend, Outcome, QueueCounts

__all__ = ["SynchronousBackend"]

_logger = logging.getLogger("dqueue.backends.synchronous")


class SynchronousBackend(Backend):
    """Runs jobs inline at enqueue, through the ``run`` callable it is given."""

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
        """A dispatcher that runs jobs with the middleware and error policy of ``settings``."""
        # The one link to the execution layer, made where the backend is assembled.
        from ..inline import inline_runner

        return cls(inline_runner(settings, clock), clock=clock)

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
