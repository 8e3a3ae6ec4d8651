"""The worker's heartbeat: a thread that tells the store, every few seconds, that it lives.

Every ``DQUEUE_HEARTBEAT_SECONDS`` the worker's :class:`Heartbeat` sends a
:class:`~dqueue.backends.workers.WorkerBeat` (who it is, since when, its current job and since
when, jobs done and failed) with a ttl of three beats, so that a killed worker drops out of
``dqueue workers`` and ``status`` by itself after three missed beats; a worker that stops
cleanly forgets itself at once. A store error while beating is logged and retried at the next
beat: it never stops the worker. A store without :class:`~dqueue.backends.workers.WorkerRegistry`
gets no beats.

The heartbeat has its own thread, not the lease keeper's: a beat stuck on a busy store must not
delay a lease renewal (a late renewal loses jobs; a late beat loses nothing).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable
from typing import Final

from .backends.base import Backend, Outcome
from .backends.workers import WorkerBeat, WorkerRegistry
from .clock import SYSTEM_CLOCK, Clock
from .hooks import WorkerHooks
from .job import Job
from .threads import BackgroundThread

__all__ = ["BEATS_PER_TTL", "Heartbeat", "registry_for"]

_logger = logging.getLogger("dqueue.worker")

#: A worker is alive until this many beats were missed.
BEATS_PER_TTL: Final = 3


def registry_for(backend: Backend) -> WorkerRegistry | None:
    """``backend`` as the registry its workers beat into, or ``None`` when it keeps none."""
    if backend.runs_inline or not isinstance(backend, WorkerRegistry):
        return None
    return backend


class Heartbeat(WorkerHooks):
    """Beats of one worker: a hook that follows its jobs, and a thread that sends them.

    ``registry`` is ``None`` for a store that keeps no record of workers (:func:`registry_for`):
    then nothing is sent. ``on_error`` is told of each failed store call (``"beat"``), as the
    worker's hooks are.
    """

    def __init__(
        self,
        registry: WorkerRegistry | None,
        *,
        worker_id: str,
        name: str,
        queue: str,
        every_s: float,
        on_error: Callable[[str], None],
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.registry = registry
        self.every_s = every_s
        self.ttl_s = every_s * BEATS_PER_TTL
        self.clock = clock
        self._on_error = on_error
        self._identity = WorkerBeat(
            worker_id=worker_id,
            name=name,
            queue=queue,
            host=os.uname().nodename,
            pid=os.getpid(),
            started_at=clock.time(),
        )
        # What the beat thread sends of the worker's jobs: the running job (id, task, since),
        # how many ran and how many failed. The worker's thread alone writes it (the job hooks
        # run there) and replaces it whole: a beat reads one consistent state, and the hooks
        # take no lock on every job.
        self._jobs: tuple[tuple[str, str, float] | None, int, int] = (None, 0, 0)
        self._failing = False  # the last beat failed: say so once, and when it works again
        self._stop = threading.Event()
        self._thread = BackgroundThread(self._loop, name="dqueue-heartbeat")

    # -- what the worker does (its hooks) ----------------------------------------------------

    def job_started(self, job: Job) -> None:
        """``job`` runs from now on."""
        _, processed, failed = self._jobs
        self._jobs = ((job.id, job.task, self.clock.time()), processed, failed)

    def job_finished(self, outcome: Outcome) -> None:
        """A job ran: count it, and its failure."""
        running, processed, failed = self._jobs
        if running is not None and running[0] == outcome.job.id:
            running = None  # with async jobs at once: another may have started since
        self._jobs = (running, processed + 1, failed + (outcome.failure is not None))

    def current(self) -> WorkerBeat:
        """What the next beat says."""
        job, processed, failed = self._jobs
        return dataclasses.replace(
            self._identity,
            job_id=job[0] if job else None,
            job_task=job[1] if job else None,
            job_started_at=job[2] if job else None,
            processed=processed,
            failed=failed,
        )

    # -- the thread --------------------------------------------------------------------------

    def start(self) -> None:
        """Start beating (the first beat at once), from now on; nothing without a registry."""
        self._identity = dataclasses.replace(self._identity, started_at=self.clock.time())
        if self.registry is not None:
            self._thread.start()

    def stop(self) -> None:
        """Stop beating and forget this worker in the store (it stops cleanly)."""
        if self.registry is None or not self._thread.is_alive():
            return
        self._stop.set()
        self._thread.join(timeout=5.0)
        try:
            self.registry.forget(self._identity.worker_id)
        except Exception as exc:
            # Its last beat expires by itself within a ttl.
            _logger.warning("worker %s could not say goodbye to the store: %s", self._name, exc)

    @property
    def _name(self) -> str:
        return self._identity.name

    def _loop(self) -> None:
        self.beat_now()
        while not self._stop.wait(self.every_s):
            self.beat_now()

    def beat_now(self) -> bool:
        """Send one beat; a store error is logged (once until it works again) and counted."""
        if self.registry is None:
            return False
        try:
            self.registry.beat(self.current(), ttl_s=self.ttl_s)
        except Exception as exc:
            self._on_error("beat")
            if not self._failing:
                self._failing = True
                _logger.warning(
                    "worker %s could not send its heartbeat, will retry every %gs: %s",
                    self._name,
                    self.every_s,
                    exc,
                )
            return False
        if self._failing:
            self._failing = False
            _logger.info("worker %s sends its heartbeat again", self._name)
        return True
