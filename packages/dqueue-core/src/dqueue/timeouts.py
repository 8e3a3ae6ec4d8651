"""Enforcing a job's ``timeout``: a soft stop inside the task, then a hard one.

1. :class:`JobTimer` arms ``ITIMER_REAL``; when it fires, the ``SIGALRM`` handler raises
   :class:`~dqueue.errors.JobTimeout` inside the task, so ``finally`` blocks and transactions
   unwind normally. Signals reach only the main thread, so this works when the worker runs in
   the main thread of its process (as every worker process does).
2. :class:`Watchdog`, a thread, gives the task ``DQUEUE_TIMEOUT_GRACE`` more seconds. A task stuck
   in C code, or one that swallows the exception, is then given up on: the watchdog's callback
   settles the job as failed and ends the process, and the runner starts a fresh one.
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

__all__ = ["JobTimer", "Watchdog"]

_logger = logging.getLogger("dqueue.worker")


class JobTimer:
    """Raises :class:`JobTimeout` in the main thread once a job has run for its timeout."""

    def __init__(self) -> None:
        #: Whether timeouts can be enforced: set by :meth:`install` in the main thread.
        self.available = False
        self.fired = False
        self._armed: Job | None = None
        self._seconds = 0.0
        self._previous: Callable[[int, FrameType | None], object] | int | None = None
        self._installed = False

    def install(self) -> None:
        """Take over ``SIGALRM`` when called from the main thread (elsewhere, do nothing)."""
        in_main_thread = threading.current_thread() is threading.main_thread()
        if in_main_thread and hasattr(signal, "setitimer") and not self._installed:
            self._previous = signal.signal(signal.SIGALRM, self._on_alarm)
            self._installed = True
            self.available = True

    def uninstall(self) -> None:
        """Give ``SIGALRM`` back to its previous handler."""
        if self._installed:
            self.disarm()
            signal.signal(signal.SIGALRM, self._previous or signal.SIG_DFL)
            self._installed = False
            self.available = False

    def arm(self, job: Job, seconds: float) -> None:
        """Raise :class:`JobTimeout` in the task of ``job`` after ``seconds``."""
        self.fired = False
        if not self._installed:
            return
        self._armed = job
        self._seconds = seconds
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 0.001))

    def disarm(self) -> None:
        """Cancel the timer (the job ended)."""
        self._armed = None
        if self._installed:
            signal.setitimer(signal.ITIMER_REAL, 0)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        job = self._armed
        if job is None:
            return  # the job ended a moment before the timer fired
        self._armed = None
        self.fired = True
        raise JobTimeout(f"{job.describe()} timed out after {self._seconds:g}s")


class Watchdog:
    """Calls ``on_stuck(job)`` from its own thread when a watched job passes its deadline."""

    def __init__(self, on_stuck: Callable[[Job], None]) -> None:
        self._on_stuck = on_stuck
        self._condition = threading.Condition()
        self._job: Job | None = None
        self._deadline = 0.0
        self._closed = False
        self._thread = threading.Thread(target=self._loop, name="dqueue-watchdog", daemon=True)

    def start(self) -> None:
        """Start the watching thread."""
        self._thread.start()

    def watch(self, job: Job, seconds: float) -> None:
        """Give up on ``job`` if it still runs ``seconds`` from now."""
        with self._condition:
            self._job = job
            self._deadline = time.monotonic() + seconds
            self._condition.notify_all()

    def clear(self) -> None:
        """The watched job ended.

        Called after every job, so it stays cheap: no lock when nothing is watched, and no
        wake-up either way (a thread waiting for a deadline finds nothing to do when it wakes).
        """
        if self._job is None:
            return
        with self._condition:
            self._job = None

    def close(self) -> None:
        """Stop the thread."""
        with self._condition:
            self._closed = True
            self._condition.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout=2.0)

    def _loop(self) -> None:
        while True:
            with self._condition:
                while not self._closed and (self._job is None or time.monotonic() < self._deadline):
                    wait = None if self._job is None else self._deadline - time.monotonic()
                    self._condition.wait(wait)
                if self._closed:
                    return
                stuck, self._job = self._job, None
            if stuck is not None:
                try:
                    self._on_stuck(stuck)
                except Exception:
                    _logger.exception(
                        "the watchdog failed to handle stuck job %s", stuck.describe()
                    )
