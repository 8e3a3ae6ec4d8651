"""Time, injected: every delay, lease, retry and cron decision reads a :class:`Clock`.

Tests pass a :class:`ManualClock` and move it, so nothing sleeps.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Protocol, runtime_checkable

__all__ = ["SYSTEM_CLOCK", "Clock", "ManualClock", "SystemClock", "to_datetime", "to_epoch"]


@runtime_checkable
class Clock(Protocol):
    """A source of wall-clock time (epoch seconds, UTC) and of waiting."""

    def time(self) -> float:
        """Return the current time as UTC epoch seconds."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait ``seconds``; a manual clock advances instead."""
        ...


class SystemClock:
    """The real clock: ``time()`` is :func:`time.time` itself."""

    # The builtin, not a method that calls it: a worker reads the clock several times a job,
    # and a Python frame around each read was a measurable part of its time per job.
    time = staticmethod(time.time)

    def sleep(self, seconds: float) -> None:
        """Sleep for real."""
        if seconds > 0:
            time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to: ``sleep`` and ``advance`` move it forward."""

    def __init__(self, start: float = 1_764_230_400.0) -> None:
        self._now = start
        self._lock = threading.Lock()

    def time(self) -> float:
        """Return the clock's current reading."""
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        """Advance instead of waiting."""
        self.advance(max(seconds, 0.0))

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds``."""
        with self._lock:
            self._now += seconds


SYSTEM_CLOCK: Clock = SystemClock()


def to_epoch(moment: datetime) -> float:
    """Convert an aware datetime to UTC epoch seconds; naive datetimes are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()} given: pass an aware datetime")
    return moment.timestamp()


def to_datetime(epoch: float) -> datetime:
    """Convert UTC epoch seconds to an aware UTC datetime."""
    return datetime.fromtimestamp(epoch, tz=UTC)
