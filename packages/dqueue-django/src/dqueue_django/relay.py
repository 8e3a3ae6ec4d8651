"""``OutboxRelay``: the service that sends outbox rows their own process did not send.

Every ``queue_runner`` hosts one when ``DQUEUE_OUTBOX`` is on. It wakes about once a second,
sends the rows older than :data:`~dqueue_django.outbox.RELAY_AFTER_SECONDS` that nobody holds,
and deletes them (see :mod:`dqueue_django.outbox` for the claims that make several relays, and
the committing process's own relay, safe together). A store or database that fails is logged
and retried with exponential backoff; the rows wait in the outbox meanwhile.
"""

from __future__ import annotations

import contextlib
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
        clock: the time source (tests pass a manual clock and call :meth:`tick`).
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
        #: Seconds until the next scan: the interval, or the backoff after failures.
        self.delay_s = interval_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def tick(self) -> int:
        """One scan that never raises: how many rows were sent; failures are logged."""
        from django.db import connections

        try:
            sent = relay_stale(self.alias, clock=self.clock)
        except Exception as exc:
            self.delay_s = self._backoff.next_delay()
            _logger.warning(
                "outbox relay: could not relay outbox jobs of database %r (%s: %s); "
                "retrying in %.1f s (if the table is missing: manage.py migrate dqueue_django)",
                self.alias,
                type(exc).__name__,
                exc,
                self.delay_s,
            )
            # A dead connection may fail to close; it is dropped anyway.
            with contextlib.suppress(Exception):
                connections[self.alias].close_if_unusable_or_obsolete()
            return 0
        if self._backoff.failures:
            _logger.info("outbox relay: database %r and stores reachable again", self.alias)
        self._backoff.reset()
        self.delay_s = self.interval_s
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
            while not self._stop.wait(self.delay_s):
                self.tick()
        finally:
            connections[self.alias].close()  # this thread's own connection
