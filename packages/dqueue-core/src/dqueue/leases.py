"""The worker's lease keeper: a thread that renews leases and recovers expired ones.

It renews the leases of the jobs a worker holds (prefetched, running, or not yet settled) every
``DQUEUE_LEASE_SECONDS / 3``, so a long job keeps its lease and a crashed worker's jobs come
back within one lease; every ``DQUEUE_LEASE_SECONDS / 2`` or so (jittered, so that a fleet does
not call at once) it has the store recover any worker's expired leases.
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
    """The leases a worker holds (reserved, not yet settled), renewed by a thread.

    :attr:`lost` holds those whose renewal the store refused, until dropped; ``on_error`` is
    told of a failed ``"renew"`` or ``"recover"``.
    """

    def __init__(
        self,
        backend: Backend,
        *,
        worker_id: str,
        lease_s: float,
        on_error: Callable[[str], None],
    ) -> None:
        self.backend = backend
        self.worker_id = worker_id
        self.renew_every_s = lease_s / 3
        self.recover_every_s = lease_s / 2
        self._on_error = on_error
        self._lock = threading.Lock()  # the thread renews while the worker holds and drops
        self._held: set[str] = set()
        self.lost: set[str] = set()  # held, but the store gave the lease to another worker
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="dqueue-leases", daemon=True)

    def hold(self, job_ids: Iterable[str]) -> None:
        """Renew these jobs' leases from now on (a job reserved again is not lost any more)."""
        with self._lock:
            for job_id in job_ids:
                self._held.add(job_id)
                self.lost.discard(job_id)

    def drop(self, job_ids: Iterable[str]) -> None:
        """Stop renewing these: settled, or another worker's now."""
        with self._lock:
            for job_id in job_ids:
                self._held.discard(job_id)
                self.lost.discard(job_id)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5.0)

    def _loop(self) -> None:
        until_recovery = self.recover_every_s * (0.5 + random.random())
        while not self._stop.wait(self.renew_every_s):
            self.renew_now()
            until_recovery -= self.renew_every_s
            if until_recovery <= 0:
                self.recover_now()
                until_recovery = self.recover_every_s * (0.5 + random.random())

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
            # An id settled a moment ago is no longer held: that is not a loss.
            lost = [job_id for job_id in lost if job_id in self._held]
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
