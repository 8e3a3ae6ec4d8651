"""Adaptive prefetch: how many jobs a worker reserves at once.

A batch saves a round trip per fast job, but a worker holding slow jobs keeps them from idle
siblings. So the batch starts at one job and doubles while a batch is expected to finish within
``target_batch_s``; it shrinks at once when jobs are slow.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = ["AdaptivePrefetch"]

_SMOOTHING = 0.3  # weight of the newest batch in the moving average of job durations
_FLOOR_S = 1e-5  # a job never "takes" less than this, so the ratio stays finite


class AdaptivePrefetch:
    """The batch size to reserve next, from the durations of the jobs seen so far."""

    def __init__(self, maximum: int, *, target_batch_s: float = 0.05) -> None:
        self.maximum = maximum
        self.target_batch_s = target_batch_s
        self.limit = 1
        self.average_s: float | None = None

    def observe(self, durations_s: Sequence[float]) -> None:
        """Learn from the durations of a finished batch and adjust :attr:`limit`."""
        if not durations_s:
            return
        batch_average = sum(durations_s) / len(durations_s)
        if self.average_s is None:
            self.average_s = batch_average
        else:
            self.average_s += _SMOOTHING * (batch_average - self.average_s)
        ideal = int(self.target_batch_s / max(self.average_s, _FLOOR_S))
        ideal = min(max(ideal, 1), self.maximum)
        if ideal > self.limit:
            # Grow gradually: one fast batch is not proof that the next jobs are fast too.
            self.limit = min(self.limit * 2, ideal)
        else:
            self.limit = ideal
