"""Enforcing a job's ``timeout``: a soft stop inside the task, then a hard one, in one guard.

At the timeout, ``SIGALRM`` raises :class:`~dqueue.errors.JobTimeout` inside the task, so
``finally`` blocks and transactions unwind (signals reach only the main thread: a worker there
enforces timeouts, as every worker process does). ``DQUEUE_TIMEOUT_GRACE`` seconds later, a
task stuck in C code or swallowing the exception is given up on: the watchdog thread calls
``on_stuck(job, started_at)`` (the worker settles the job as failed and ends its process), and
the worker's own thread never returns from :meth:`TimeoutGuard.disarm`.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType

from .errors import JobTimeout
from .job import Job
from .threads import BackgroundThread

__all__ = ["TimeoutGuard"]

_logger = logging.getLogger("dqueue.worker")

_Handler = Callable[[int, FrameType | None], object] | int | None


class TimeoutGuard:
    """Arms a timer and a watchdog for each job with a timeout; see the module docstring.

    ``grace_s``: how long past its timeout a job may run; ``now``: the clock of the start time
    passed to ``on_stuck``.
    """

    def __init__(
        self,
        grace_s: float,
        on_stuck: Callable[[Job, float], None],
        now: Callable[[], float] = time.time,
    ) -> None:
        self.grace_s = grace_s
        #: Whether timeouts are enforced: set by :meth:`install` in the main thread.
        self.installed = False
        self._on_stuck = on_stuck
        self._now = now
        self._previous: _Handler = None
        self._condition = threading.Condition()
        self._armed: Job | None = None  # the job the SIGALRM handler interrupts
        self._watched: Job | None = None  # the job the watchdog gives up on
        self._started_at = 0.0
        self._deadline = 0.0
        self._fired = False
        self._given_up = False
        self._closed = False
        self._warned = False

    def install(self) -> None:
        """Take over ``SIGALRM`` and start the watchdog, when called from the main thread."""
        if threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer"):
            self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
            BackgroundThread(self._watch, name="dqueue-watchdog").start()
            self.installed = True

    def close(self) -> None:
        """Give ``SIGALRM`` back to its previous handler and stop the watchdog."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self.installed:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
            self.installed = False

    def arm(self, job: Job) -> None:
        """Start guarding ``job`` (nothing to do for a job without a timeout)."""
        self._fired = False  # a previous job's timeout says nothing about this one
        if job.timeout is None:
            return
        if not self.installed:
            if not self._warned:
                self._warned = True
                _logger.warning("timeouts are enforced only by a worker in its main thread")
            return
        with self._condition:
            self._watched = job
            self._started_at = self._now()
            self._deadline = time.monotonic() + job.timeout + self.grace_s
            self._condition.notify_all()
        self._armed = job
        signal.setitimer(signal.ITIMER_REAL, max(job.timeout, 0.001))

    def disarm(self) -> bool:
        """The job ended: stop guarding it; ``True`` if its timeout fired while it ran.

        Cheap when nothing is guarded (no lock, no syscall): it is called after every job.
        """
        if self._armed is not None:
            self._armed = None
            signal.setitimer(signal.ITIMER_REAL, 0)
        if self._watched is not None:
            with self._condition:
                self._watched = None
        if self._given_up:
            threading.Event().wait()  # the watchdog settles this job and ends the process
        return self._fired

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        job = self._armed
        if job is None:
            return  # the job ended a moment before the timer fired
        self._armed = None
        self._fired = True
        raise JobTimeout(f"{job.describe()} timed out after {job.timeout:g}s")

    def _watch(self) -> None:
        while True:
            with self._condition:
                while not self._closed and (
                    self._watched is None or time.monotonic() < self._deadline
                ):
                    wait = None if self._watched is None else self._deadline - time.monotonic()
                    self._condition.wait(wait)
                if self._closed:
                    return
                stuck = self._watched
                if stuck is None:
                    continue
                # Given up before the job is let go, so that disarm() can't miss it.
                self._given_up = True
                self._watched = None
            try:
                self._on_stuck(stuck, self._started_at)
            except Exception:
                _logger.exception("the watchdog failed to handle stuck job %s", stuck.describe())
