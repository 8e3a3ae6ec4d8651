"""``OutboxRelay``: the service that sends outbox rows their own process did not send.

Every ``queue_runner`` hosts one when ``DQUEUE_OUTBOX`` is on. It wakes about once a second,
sends the rows older than :data:`~dqueue_django.outbox.RELAY_AFTER_SECONDS` that nobody holds,
and deletes them (see :mod:`dqueue_django.outbox` for the claims that make several relays, and
the committing process's own relay, safe together). A store or database that fails is logged
and retried with exponential backoff; the rows wait in the outbox meanwhile.
"""

from __future__ import annotations

import logging
import threading
from typing import Final

from dqueue.backoff import Backoff
from dqueue.clock import SYSTEM_CLOCK, Clock

from .outbox import relay_stale

__all__ = ["OutboxRelay"]

_logger = logging.getLogger("dqueue.django.outbox")

_INTERVAL_S: Final = 1.0


class OutboxRelay:
    """Relays stale outbox rows of database ``alias`` to their stores, in a daemon thread.

    Args:
        alias: the database holding the outbox (``DQUEUE_OUTBOX_DATABASE``).
        clock: the time source (tests pass a manual clock and call :meth:`relay_once`).
        interval_s: the pause between two scans while everything works.
    """

    name = "outbox relay"
    queues: frozenset[str] = frozenset()  # it sends jobs to stores, to no queue of its own

    def __init__(
        self, alias: str, *, clock: Clock = SYSTEM_CLOCK, interval_s: float = _INTERVAL_S
    ) -> None:
        self.alias = alias
        self.clock = clock
        self.interval_s = interval_s
        # 1 s doubling up to 30 s, as the README promises: no jitter, one relay per runner.
        self._backoff = Backoff(1.0, 30.0, jitter=0.0)
        self._delay_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def relay_once(self) -> int:
        """Send every stale row once; how many were sent (errors propagate)."""
        return relay_stale(self.alias, clock=self.clock)

    def next_delay(self) -> float:
        """Seconds until the next scan: the interval, or the backoff after failures."""
        return self._delay_s

    def tick(self) -> int:
        """One scan that never raises: failures are logged and counted for the backoff."""
        try:
            sent = self.relay_once()
        except Exception as exc:
            self._delay_s = self._backoff.next_delay()
            _logger.warning(
                "outbox relay: could not relay outbox jobs of database %r (%s: %s); "
                "retrying in %.1f s (if the table is missing: manage.py migrate dqueue_django)",
                self.alias,
                type(exc).__name__,
                exc,
                self._delay_s,
            )
            self._drop_broken_connection()
            return 0
        if self._backoff.failures:
            _logger.info("outbox relay: database %r and stores reachable again", self.alias)
        self._backoff.reset()
        self._delay_s = self.interval_s
        if sent:
            _logger.info("outbox relay: sent %d job(s) left in the outbox", sent)
        return sent

    @property
    def running(self) -> bool:
        """Whether the relay's thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start scanning in a daemon thread."""
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="dqueue-outbox-relay", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop scanning; wait up to ``timeout_s`` for the current scan to end."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)

    def _run(self) -> None:
        from django.db import connections

        try:
            while not self._stop.wait(self.next_delay()):
                self.tick()
        finally:
            connections[self.alias].close()  # this thread's own connection

    def _drop_broken_connection(self) -> None:
        from django.db import connections

        try:
            connections[self.alias].close_if_unusable_or_obsolete()
        except Exception:  # a dead connection may fail to close; it is dropped anyway
            _logger.debug("outbox relay: closing a broken connection failed", exc_info=True)
