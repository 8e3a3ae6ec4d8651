"""Wake-ups between threads of one process that share a SQLite database file.

Another process's enqueue can only be noticed by looking (``DQUEUE_POLL_INTERVAL``), but one
of this process's threads can be told at once: every backend on the same file shares one
:class:`Wakeup`, which is notified after each commit that makes jobs due.
"""

from __future__ import annotations

import os
import threading

__all__ = ["Wakeup", "wakeup_for"]


class Wakeup:
    """A generation counter and a condition: waiters that saw generation *n* wake at *n + 1*."""

    def __init__(self) -> None:
        self.condition = threading.Condition(threading.Lock())
        self.generation = 0
        self._waiters = 0

    def notify(self) -> None:
        """Wake every thread waiting on this file (nearly free when none is)."""
        # Bump first, then look for waiters: a waiter registers under the lock and checks the
        # generation before it sleeps, so it either sees this bump or is seen here.
        self.generation += 1
        if self._waiters:
            with self.condition:
                self.condition.notify_all()

    def wait(self, generation: int, timeout_s: float) -> None:
        """Wait up to ``timeout_s`` unless a notify came after ``generation`` was read."""
        with self.condition:
            self._waiters += 1
            try:
                if self.generation == generation:
                    self.condition.wait(timeout_s)
            finally:
                self._waiters -= 1


_wakeups: dict[str, Wakeup] = {}
_wakeups_lock = threading.Lock()


def _forget_wakeups_after_fork() -> None:
    global _wakeups_lock
    _wakeups_lock = threading.Lock()  # another thread may have held it at the fork
    _wakeups.clear()


os.register_at_fork(after_in_child=_forget_wakeups_after_fork)


def wakeup_for(path: str) -> Wakeup:
    """The wake-up shared by every backend of this process on the file at ``path``."""
    with _wakeups_lock:
        wakeup = _wakeups.get(path)
        if wakeup is None:
            wakeup = _wakeups[path] = Wakeup()
        return wakeup
