"""Exponential backoff with jitter, for retrying a store that went away or a crashing worker."""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff"]


class Backoff:
    """Delays that double from ``base_s`` up to ``max_s``, each spread by ``±jitter``.

    Jitter keeps many workers that lost the same store from reconnecting in lockstep.
    """

    def __init__(
        self,
        base_s: float,
        max_s: float,
        *,
        jitter: float = 0.25,
        rng: Callable[[], float] = random.random,
    ) -> None:
        if base_s <= 0 or max_s < base_s:
            raise ValueError("Backoff needs 0 < base_s <= max_s")
        self.base_s = base_s
        self.max_s = max_s
        self.jitter = jitter
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before trying again."""
        exponent = min(self.failures, 62)
        self.failures += 1
        delay = min(self.base_s * 2.0**exponent, self.max_s)
        return max(delay * (1.0 + self.jitter * (2.0 * self._rng() - 1.0)), 0.0)

    def reset(self) -> None:
        """Forget past failures: the next delay is ``base_s`` again."""
        self.failures = 0
