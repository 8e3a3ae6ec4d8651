"""The worker's lease keeper: a thread that renews leases and recovers expired ones.

On an at-least-once backend each reserved job is leased to one worker until a deadline. While
the worker holds jobs (prefetched, running, or finished but not yet settled), this thread renews
their leases every ``DQUEUE_LEASE_SECONDS / 3``, so a long job keeps its lease and a crashed
worker's jobs come back within one lease. A renewal that took more than a quarter of a lease (a
stalled store) is followed by another at once: the store may have set its deadline from the moment
it was sent. The keeper also knows, by the worker's own clock, until when each lease surely holds
(a lease's length after the reserve or renewal that set it was sent), so that the worker never
starts a job whose lease may have run out. Every ``DQUEUE_LEASE_SECONDS / 2`` or so (jittered, so
that a fleet of workers doesn't call at once) it asks the backend to recover expired leases of
any worker; backends make that safe when many workers do it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable

from .backends.base import Backend
from .clock import SYSTEM_CLOCK, Clock
from .threads import BackgroundThread

__all__ = ["LeaseKeeper"]

_logger = logging.getLogger("dqueue.worker")


class LeaseKeeper:
    """The leases a worker holds: renewed by a thread, and the ones it lost to other workers.

    The worker holds each job it reserves and drops it once settled; a job whose renewal the
    store refused is in :attr:`lost` until dropped. Once the worker sends a job's outcome it
    marks it :meth:`settling`: from then on the settle's reply says whether the lease was lost,
    and a renewal that finds the job gone (settled meanwhile) reports nothing. ``on_error`` is
    told of each failed store call: ``"renew"`` or ``"recover"``. ``clock`` is the worker's
    clock.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        worker_id: str,
        lease_s: float,
        on_error: Callable[[str], None],
        clock: Clock = SYSTEM_CLOCK,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.backend = backend
        self.worker_id = worker_id
        self.lease_s = lease_s
        self.clock = clock
        self.renew_every_s = lease_s / 3
        self.slow_call_s = lease_s / 4  # a renewal this slow is followed by another at once
        self.recover_every_s = lease_s / 2
        self._on_error = on_error
        self._rng = rng
        self._lock = threading.Lock()  # the thread renews while the worker holds and drops
        self._held: dict[str, float] = {}  # job id -> until when its lease surely holds
        self._settling: set[str] = set()  # held, outcome sent to the store
        self.lost: set[str] = set()  # held, but the store gave the lease to another worker
        self._stop = threading.Event()
        self._thread = BackgroundThread(self._loop, name="dqueue-leases")

    def hold(self, job_ids: Iterable[str], sent_at: float) -> None:
        """Renew these jobs' leases from now on (a job reserved again is not lost any more).

        ``sent_at``: the worker's clock when it sent the reserve that leased them.
        """
        with self._lock:
            for job_id in job_ids:
                self._held[job_id] = sent_at + self.lease_s
                self.lost.discard(job_id)
                self._settling.discard(job_id)

    def settling(self, job_ids: Iterable[str]) -> None:
        """The outcomes of these are on their way to the store (renewed until dropped)."""
        with self._lock:
            self._settling.update(job_ids)

    def expired(self, job_id: str) -> bool:
        """Whether the lease of ``job_id`` may have run out, by the worker's clock."""
        # Without the lock (asked before every job): each read is atomic, and a renewal between
        # the two can only have marked it lost or pushed its deadline later. The answer is the
        # one a locked read just before that renewal would have given.
        return job_id in self.lost or self.clock.time() >= self._held.get(job_id, 0.0)

    def drop(self, job_ids: Iterable[str]) -> None:
        """Stop renewing these: settled, or another worker's now."""
        with self._lock:
            for job_id in job_ids:
                self._held.pop(job_id, None)
                self.lost.discard(job_id)
                self._settling.discard(job_id)

    def start(self) -> None:
        """Check the clocks, then start the thread."""
        self.check_clock()
        self._thread.start()

    def check_clock(self) -> float | None:
        """Warn when the store's clock is more than a quarter of a lease off the worker's.

        Returns the store's clock minus the worker's, or ``None`` when the store has no clock of
        its own (it runs on this machine) or could not be asked. Past that skew, workers on
        other machines may read leases and due times differently (see the README's limits).
        """
        try:
            before = self.clock.time()
            store_now = self.backend.store_time()
            after = self.clock.time()
        except Exception as exc:
            _logger.warning("could not compare clocks with the store: %s", exc)
            return None
        if store_now is None:
            return None
        skew_s = store_now - (before + after) / 2
        if abs(skew_s) > self.lease_s / 4:
            _logger.warning(
                "worker %s: this machine's clock is %.1fs %s the store's, more than a quarter "
                "of the %gs lease; synchronise the clocks (NTP)",
                self.worker_id,
                abs(skew_s),
                "behind" if skew_s > 0 else "ahead of",
                self.lease_s,
            )
        return skew_s

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        until_recovery = self.recover_every_s * (0.5 + self._rng())
        wait_s = self.renew_every_s
        while not self._stop.wait(wait_s):
            wait_s = self.renew_now()
            until_recovery -= self.renew_every_s
            if until_recovery <= 0:
                self.recover_now()
                until_recovery = self.recover_every_s * (0.5 + self._rng())

    def renew_now(self) -> float:
        """Renew every held lease once; return how long to wait before the next renewal.

        A store error is logged and retried next time. After a call that took longer than a
        quarter of a lease the next one is due at once (0.0).
        """
        with self._lock:
            ids = list(self._held)
        if not ids:
            return self.renew_every_s
        sent_at = self.clock.time()
        lost: list[str] | None
        try:
            lost = self.backend.renew(ids, worker_id=self.worker_id)
        except Exception as exc:
            _logger.warning("could not renew %d lease(s), will retry: %s", len(ids), exc)
            self._on_error("renew")
            lost = None
        took_s = self.clock.time() - sent_at
        if lost is not None:
            with self._lock:
                # A job settled while the renewal was in flight is gone from the store: that is
                # no loss. Its settle's reply, not the renewal, says whether the lease was lost.
                settled = self._settling
                lost = [i for i in lost if i in self._held and i not in settled]
                self.lost.update(lost)
                for job_id in ids:
                    if job_id in self._held:
                        self._held[job_id] = max(self._held[job_id], sent_at + self.lease_s)
            if lost:
                _logger.warning("worker %s lost the lease of %d job(s)", self.worker_id, len(lost))
        if took_s > self.slow_call_s:
            _logger.warning(
                "worker %s: renewing leases took %.1fs; renewing again now", self.worker_id, took_s
            )
            return 0.0
        return self.renew_every_s

    def recover_now(self) -> None:
        """Put jobs whose lease expired (any worker's) back on their queues."""
        try:
            count = self.backend.recover()
        except Exception as exc:
            _logger.warning("could not recover expired leases, will retry: %s", exc)
            self._on_error("recover")
            return
        if count:
            _logger.info("recovered %d job(s) whose worker stopped renewing its lease", count)
