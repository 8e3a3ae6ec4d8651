"""Small helpers of the worker: health-check touch files, memory use, an orphan check."""

from __future__ import annotations

import logging
import os
import resource
import sys
from pathlib import Path
from typing import Final

from .clock import SYSTEM_CLOCK, Clock

__all__ = ["RUNNER_PID_ENV", "TouchFile", "memory_mb", "runner_is_gone"]

_logger = logging.getLogger("dqueue.worker")

#: Set by the runner in each worker's environment: the pid the worker's parent must have.
RUNNER_PID_ENV: Final = "DQUEUE_RUNNER_PID"

_TOUCH_EVERY_S: Final = 1.0


class TouchFile:
    """``DQUEUE_TOUCH_FILE``: a file whose mtime says "this queue ran a job successfully".

    ``%s`` in the pattern is replaced by the queue name. The file is touched at most once a
    second, so that fast jobs don't pay a syscall each.
    """

    def __init__(self, pattern: str | None, queue: str, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self.path = Path(pattern.replace("%s", queue)) if pattern else None
        self._clock = clock
        self._last = float("-inf")
        self._warned = False

    def touch(self) -> None:
        """Update the file's mtime (creating it), unless that was done within a second."""
        if self.path is None:
            return
        now = self._clock.time()
        if now - self._last < _TOUCH_EVERY_S:
            return
        self._last = now
        try:
            self.path.touch()
        except OSError as exc:
            if not self._warned:
                self._warned = True
                _logger.warning("cannot touch DQUEUE_TOUCH_FILE %s: %s", self.path, exc)


def memory_mb() -> float | None:
    """This process's resident memory in MB (its peak where the current value is unknown)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports KiB, macOS bytes.
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def runner_is_gone() -> bool:
    """True when this worker was started by a runner that has since died (it is orphaned)."""
    expected = os.environ.get(RUNNER_PID_ENV)
    if not expected:
        return False
    try:
        return int(expected) != os.getppid()
    except ValueError:
        return False
