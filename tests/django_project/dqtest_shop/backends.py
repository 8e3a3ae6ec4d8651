"""Test stores: one that is down (every enqueue fails), one that counts what it was sent."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from dqueue.backends.base import StoreOptions
from dqueue.backends.memory import MemoryBackend
from dqueue.clock import SYSTEM_CLOCK, Clock
from dqueue.job import Job
from dqueue.testing import FailingBackend


class DownBackend(FailingBackend):
    """A memory store that refuses every job as an unreachable store would."""

    def __init__(self, options: StoreOptions | None = None, *, clock: Clock = SYSTEM_CLOCK) -> None:
        super().__init__(MemoryBackend(options, clock=clock), message="down on purpose")
        self.fail("enqueue", "enqueue_many")


class CountingBackend(MemoryBackend):
    """The memory store, keeping every job id it was asked to store (to see duplicates)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.asked: list[str] = []
        self._asked_lock = threading.Lock()

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        with self._asked_lock:
            self.asked.extend(job.id for job in jobs)
        return super().enqueue_many(jobs)
