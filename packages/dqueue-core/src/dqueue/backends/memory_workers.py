"""The worker registry of the memory store: each worker's last beat in a dict.

:class:`~dqueue.backends.memory.MemoryBackend` inherits :class:`MemoryWorkers`. Only workers of
this process can beat into it (threads); the semantics are those of
:mod:`dqueue.backends.workers`, with time read from the store's clock.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Sequence
from typing import Any

from ..clock import Clock
from .workers import WorkerBeat, ordered

__all__ = ["MemoryWorkers"]


class MemoryWorkers:
    """Beats kept in memory until their ttl passes (see :mod:`dqueue.backends.workers`)."""

    clock: Clock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Apart from the jobs' lock: a beat never waits for a reserve that holds it.
        self._beats_lock = threading.Lock()
        self._beats: dict[str, tuple[WorkerBeat, float]] = {}  # worker id -> (beat, alive until)

    def beat(self, beat: WorkerBeat, *, ttl_s: float) -> None:
        """Record ``beat``, stamped with the store's time, alive for ``ttl_s`` seconds."""
        with self._beats_lock:
            now = self.clock.time()
            self._beats[beat.worker_id] = (dataclasses.replace(beat, beat_at=now), now + ttl_s)

    def forget(self, worker_id: str) -> None:
        """Drop ``worker_id`` now."""
        with self._beats_lock:
            self._beats.pop(worker_id, None)

    def workers(self, queues: Sequence[str] | None = None) -> list[WorkerBeat]:
        """The living workers of ``queues`` (``None``: all), in :func:`ordered` order."""
        chosen = None if queues is None else set(queues)
        with self._beats_lock:
            now = self.clock.time()
            for worker_id in [w for w, (_, until) in self._beats.items() if until <= now]:
                del self._beats[worker_id]
            living = [beat for beat, _ in self._beats.values()]
        return ordered(beat for beat in living if chosen is None or beat.queue in chosen)
