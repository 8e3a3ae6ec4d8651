"""A store that is down: every enqueue fails (for the after-commit error path)."""

from __future__ import annotations

from collections.abc import Sequence

from dqueue.backends.memory import MemoryBackend
from dqueue.errors import BackendUnavailable
from dqueue.job import Job


class DownBackend(MemoryBackend):
    """Refuses every job as an unreachable store would."""

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        raise BackendUnavailable("the store is down (on purpose)")
