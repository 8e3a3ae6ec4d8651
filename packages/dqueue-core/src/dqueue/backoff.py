""":func:`backoff_delay` and :class:`Backoff`: exponential backoff, written once.

:class:`Backoff` counts failures for a caller that retries until it works (store calls,
runner restarts).
"""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["Backoff", "backoff_delay"]


def backoff_delay(
    failures: int,
    *,
    base_s: float,
    max_s: float,
    jitter: float = 0.0,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait after ``failures`` failures: ``base * 2**(failures-1)``, capped.

    ``jitter`` spreads each delay by up to that fraction either way (``0.25``: ±25%), so that
    many callers that failed together don't all try again at the same millisecond.
    """
    exponent = min(max(failures - 1, 0), 62)
    delay = min(base_s * 2.0**exponent, max_s)
    if jitter:
        delay *= 1.0 + jitter * (2.0 * rng() - 1.0)
    return max(delay, 0.0)


class Backoff:
    """Delays that double from ``base_s`` up to ``max_s``, each spread by ``±jitter``.

    Jitter keeps workers that lost the same store from reconnecting in lockstep.
    """

    def __init__(
        self,
        base_s: float,
        max_s: float,
        *,
        jitter: float = 0.25,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.base_s = base_s
        self.max_s = max_s
        self.jitter = jitter
        self._rng = rng
        self.failures = 0

    def next_delay(self) -> float:
        """Count one more failure and return how long to wait before trying again."""
        self.failures += 1
        return backoff_delay(
            self.failures, base_s=self.base_s, max_s=self.max_s, jitter=self.jitter, rng=self._rng
        )

    def reset(self) -> None:
        """Forget past failures: the next delay is ``base_s`` again."""
        self.failures = 0
