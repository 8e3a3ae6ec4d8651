"""What the memory store keeps of each queue, and of each job a worker holds.

:class:`~dqueue.backends.memory.MemoryBackend` and its inspection share these values.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from dataclasses import dataclass, field

from .base import DeadLetter, LatenessSample

__all__ = ["LATENESS_SAMPLES", "Lease", "QueueState"]

#: How many recent lateness samples a queue keeps.
LATENESS_SAMPLES = 1000


@dataclass
class Lease:
    """A job a worker holds, until ``until``."""

    worker_id: str
    #: The runs counted, this one included (the payload keeps the count it was stored with).
    attempt: int
    until: float
    payload: str
    #: Cancelled in flight: its settle and lease expiry never store it again (lifecycle).
    cancelled: bool = False
    #: The last progress this run reported, as JSON text (it goes with the lease).
    progress: str | None = None


@dataclass
class QueueState:
    """One queue's jobs: waiting (in heaps of ids), held by workers, dead; its pause."""

    ready: list[tuple[int, float, int, str]] = field(default_factory=list)  # heap
    delayed: list[tuple[float, int, str]] = field(default_factory=list)  # heap
    waiting: dict[str, str] = field(default_factory=dict)  # id -> payload (ready or delayed)
    leased: dict[str, Lease] = field(default_factory=dict)
    dead: OrderedDict[str, DeadLetter] = field(default_factory=OrderedDict)
    paused_until: float | None = None
    lateness: deque[LatenessSample] = field(default_factory=lambda: deque(maxlen=LATENESS_SAMPLES))
