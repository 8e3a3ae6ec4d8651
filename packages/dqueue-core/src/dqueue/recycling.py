"""When a worker exits for its runner to replace it: job count, idle time, memory, orphaning."""

from __future__ import annotations

import os
import resource
import sys

from .identity import runner_is_gone
from .settings import Settings

__all__ = ["memory_mb", "recycle_reason"]


def recycle_reason(settings: Settings, processed: int, idle_s: float) -> str:
    """Why a worker that ran ``processed`` jobs and idled ``idle_s`` should exit ("": none).

    ``DQUEUE_WORKER_MAX_JOBS``, ``DQUEUE_WORKER_MAX_IDLE`` and ``DQUEUE_WORKER_MAX_MEMORY_MB``
    (checked once a job ran), and a runner that died and left the worker orphaned.
    """
    if settings.WORKER_MAX_JOBS is not None and processed >= settings.WORKER_MAX_JOBS:
        return f"ran {processed} jobs (DQUEUE_WORKER_MAX_JOBS)"
    if settings.WORKER_MAX_IDLE is not None and idle_s >= settings.WORKER_MAX_IDLE:
        return f"idle for {settings.WORKER_MAX_IDLE:g}s (DQUEUE_WORKER_MAX_IDLE)"
    if settings.WORKER_MAX_MEMORY_MB is not None and processed:
        used = memory_mb()
        if used > settings.WORKER_MAX_MEMORY_MB:
            return f"uses {used:.0f} MB (DQUEUE_WORKER_MAX_MEMORY_MB)"
    return "its runner is gone" if runner_is_gone() else ""


def memory_mb() -> float:
    """This process's resident memory in MB (its peak where the current value is unknown)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as statm:
            pages = int(statm.read().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / (1024 * 1024)
    except (OSError, ValueError, IndexError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        # Linux reports KiB, macOS bytes.
        return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024
