"""Test stores: one that is down (every enqueue fails), one that counts what it was sent."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from dqueue.backends.memory import MemoryBackend
from dqueue.errors import BackendUnavailable
from dqueue.job import Job


class DownBackend(MemoryBackend):
    """Refuses every job as an unreachable store would."""

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        raise BackendUnavailable("the store is down (on purpose)")


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
