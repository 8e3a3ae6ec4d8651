"""dqueue's own background threads, which leave the process's signals to the main thread.

A process-directed signal (``kill PID``) goes to any thread that does not block it. Python runs
its handler in the main thread either way, but only the thread the kernel chose is woken: when a
lease, heartbeat or metrics thread takes a ``SIGTERM``, a main thread asleep in a task or a
blocking read sleeps on, and a worker told to stop does not hear it until that call returns.
Threads started here block the signals dqueue acts on, so the kernel delivers them to the main
thread, whose blocking call is interrupted at once.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterable
from typing import Any

__all__ = ["BackgroundThread"]

#: The signals the worker, the runner and the job timeout handle in the main thread.
MAIN_THREAD_SIGNALS = frozenset(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGALRM") if hasattr(signal, name)
)


class BackgroundThread(threading.Thread):
    """A daemon thread that never takes the signals meant for the main thread.

    The mask is set before the thread starts (a new thread inherits its creator's), so no
    signal can reach it in the moment between its start and its first instruction.
    """

    def __init__(
        self, target: Callable[..., object], *, name: str, args: Iterable[Any] = ()
    ) -> None:
        # A daemon: a thread stuck on a dead store must not hold up the process's exit.
        super().__init__(target=target, name=name, args=args, daemon=True)

    def start(self) -> None:
        """Start the thread with :data:`MAIN_THREAD_SIGNALS` blocked in it."""
        if not hasattr(signal, "pthread_sigmask"):  # pragma: no cover - not on POSIX
            super().start()
            return
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, MAIN_THREAD_SIGNALS)
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)
