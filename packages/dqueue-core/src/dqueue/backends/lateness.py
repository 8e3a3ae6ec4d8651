"""Lateness samples: how late each run started, and when, so that ``status`` reads windows.

Every store keeps the newest samples of each queue (:attr:`QueueCounts.recent_lateness
<dqueue.backends.base.QueueCounts.recent_lateness>`); those that keep text keep
:meth:`LatenessSample.encode`'s form. :func:`window` picks the samples of the last minutes.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

__all__ = ["LatenessSample", "sample_text", "window"]


class LatenessSample(NamedTuple):
    """How late one run started, and when it started: ``status`` reads recent windows."""

    #: When the run started (epoch seconds).
    at: float
    #: How late it started (seconds).
    seconds: float

    def encode(self) -> str:
        """The sample as stores that keep text keep it: ``seconds@at``."""
        return sample_text(self.seconds, self.at)

    @classmethod
    def decode(cls, stored: object) -> LatenessSample:
        """Read :meth:`encode`'s text, or a bare number as stored before samples had a time.

        A bare number gets the time 0: it is older than any window ``status`` shows.

        Raises:
            ValueError: ``stored`` is neither.
        """
        if isinstance(stored, bytes):
            stored = stored.decode()
        if isinstance(stored, str):
            seconds, _, at = stored.partition("@")
            return cls(at=float(at or 0.0), seconds=float(seconds))
        if isinstance(stored, int | float) and not isinstance(stored, bool):
            return cls(at=0.0, seconds=float(stored))
        raise ValueError(f"not a lateness sample: {type(stored).__name__}")


def sample_text(seconds: float, at: float) -> str:
    """A sample as :meth:`LatenessSample.encode` writes it, from its two numbers.

    To the microsecond and the millisecond: what ``status`` shows needs no more, and a float's
    shortest ``repr`` takes three times as long (a sample is written for every job run).
    """
    return "%.6f@%.3f" % (seconds, at)  # noqa: UP031 (%-format is the quickest here)


def window(samples: Iterable[LatenessSample], *, now: float, seconds: float) -> list[float]:
    """The lateness (seconds) of the runs in ``samples`` that started in the last ``seconds``."""
    since = now - seconds
    return [sample.seconds for sample in samples if sample.at >= since]
