"""The worker's lease keeper: a thread that renews leases and recovers expired ones.

On an at-least-once backend each reserved job is leased to one worker until a deadline. While
the worker holds jobs (prefetched, running, or finished but not yet settled), this thread renews
their leases every ``DQUEUE_LEASE_SECONDS / 3``, so a long job keeps its lease and a crashed
worker's jobs come back within one lease. Every ``DQUEUE_LEASE_SECONDS / 2`` or so (jittered, so
that a fleet of workers doesn't call at once) it asks the backend to recover expired leases of
any worker; backends make that safe when many workers do it.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable

from .backends.base import Backend

__all__ = ["LeaseKeeper"]

_logger = logging.getLogger("dqueue.worker")


class LeaseKeeper:
    """The leases a worker holds: renewed by a thread, and the ones it lost to other workers.

    The worker holds each job it reserves and drops it once settled; a job whose renewal the
    store refused is in :attr:`lost` until dropped. Once the worker sends a job's outcome it
    marks it :meth:`settling`: from then on the settle's reply says whether the lease was lost,
    and a renewal that finds the job gone (settled meanwhile) reports nothing. ``on_error`` is
    told of each failed store call: ``"renew"`` or ``"recover"``.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        worker_id: str,
        lease_s: float,
        on_error: Callable[[str], None],
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.backend = backend
        self.worker_id = worker_id
        self.renew_every_s = lease_s / 3
        self.recover_every_s = lease_s / 2
        self._on_error = on_error
        self._rng = rng
        self._lock = threading.Lock()  # the thread renews while the worker holds and drops
        self._held: set[str] = set()
        self._settling: set[str] = set()  # held, outcome sent to the store
        self.lost: set[str] = set()  # held, but the store gave the lease to another worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dqueue-leases", daemon=True)

    def hold(self, job_ids: Iterable[str]) -> None:
        """Renew these jobs' leases from now on (a job reserved again is not lost any more)."""
        with self._lock:
            for job_id in job_ids:
                self._held.add(job_id)
                self.lost.discard(job_id)
                self._settling.discard(job_id)

    def settling(self, job_ids: Iterable[str]) -> None:
        """The outcomes of these are on their way to the store (renewed until dropped)."""
        with self._lock:
            self._settling.update(job_ids)

    def drop(self, job_ids: Iterable[str]) -> None:
        """Stop renewing these: settled, or another worker's now."""
        with self._lock:
            for job_id in job_ids:
                self._held.discard(job_id)
                self.lost.discard(job_id)
                self._settling.discard(job_id)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        until_recovery = self.recover_every_s * (0.5 + self._rng())
        while not self._stop.wait(self.renew_every_s):
            self.renew_now()
            until_recovery -= self.renew_every_s
            if until_recovery <= 0:
                self.recover_now()
                until_recovery = self.recover_every_s * (0.5 + self._rng())

    def renew_now(self) -> None:
        """Renew every held lease once; a store error is logged and retried next time."""
        with self._lock:
            ids = list(self._held)
        if not ids:
            return
        try:
            lost = self.backend.renew(ids, worker_id=self.worker_id)
        except Exception as exc:
            _logger.warning("could not renew %d lease(s), will retry: %s", len(ids), exc)
            self._on_error("renew")
            return
        with self._lock:
            # A job settled while the renewal was in flight is gone from the store: that is no
            # loss. Its settle's reply, not the renewal, says whether the lease was lost.
            settled = self._settling
            lost = [i for i in lost if i in self._held and i not in settled]
            self.lost.update(lost)
        if lost:
            _logger.warning("worker %s lost the lease of %d job(s)", self.worker_id, len(lost))

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
