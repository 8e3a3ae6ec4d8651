"""How a worker stops: on a signal, after a job that ignored its timeout, and its last settle.

Functions of :class:`~dqueue.worker.Worker` (they log as ``dqueue.worker``, as the worker
does), kept apart from its loop: the worker calls them from its signal handlers, its timeout
watchdog and the end of :meth:`~dqueue.worker.Worker.run`.
"""

from __future__ import annotations

import logging
import os
import signal
import time
from types import FrameType
from typing import TYPE_CHECKING, Final

from .errors import JobTimeout
from .execution import failed_execution
from .job import Job
from .run_log import log_outcome

if TYPE_CHECKING:
    from .worker import Worker

__all__ = ["EXIT_STUCK_JOB", "give_up_on", "on_stop_signal", "settle_until_deadline"]

_logger = logging.getLogger("dqueue.worker")

#: A job ignored its timeout; the worker settled it as failed and ended its process.
EXIT_STUCK_JOB: Final = 70

_SHUTDOWN_SETTLE_S: Final = 5.0  # how long a stopping worker keeps trying to settle


def settle_until_deadline(worker: Worker) -> None:
    """Keep settling for up to ``_SHUTDOWN_SETTLE_S``: the worker is about to stop."""
    deadline = time.monotonic() + _SHUTDOWN_SETTLE_S
    while not worker._flush(force=True) and time.monotonic() < deadline:
        time.sleep(0.1)
    if worker._pending:
        _logger.error(
            "worker %s stops with %d unsettled outcome(s); their leases will bring them back",
            worker.name,
            len(worker._pending),
        )


def on_stop_signal(worker: Worker, signum: int, frame: FrameType | None) -> None:
    """SIGTERM or SIGINT: stop after the running job; at once on a second signal.

    At once, too, while a ``sigkill_on_stop`` job runs (its lease brings it back).
    """
    name, running = signal.Signals(signum).name, [j for j, _ in worker._in_flight.values()]
    stopping = worker._stop.is_set()
    if stopping or any(j.sigkill_on_stop for j in [*running, worker._current] if j):
        why = "second signal" if stopping else "a sigkill_on_stop job runs"
        _logger.warning("worker %s: %s (%s), stopping at once", worker.name, name, why)
        os._exit(128 + signum)
    _logger.info("worker %s: %s, stopping after the running job", worker.name, name)
    worker._stop.set()


def give_up_on(worker: Worker, job: Job, started_at: float) -> None:
    """Called by the watchdog: ``job`` ignored its timeout. Settle it, end the process."""
    after = f"{job.timeout or 0:g}s; worker killed"
    timeout = JobTimeout(f"{job.describe()} timed out after {after}")
    grace = worker.settings.TIMEOUT_GRACE
    _logger.error("%s (not stopped within %gs); replacing this worker process", timeout, grace)
    execution = failed_execution(job, timeout, started_at, worker.clock.time())
    worker._current = None
    outcome = worker._decide(execution)
    log_outcome(outcome, timeout)
    worker._pending.append(outcome)
    worker._return_waiting()
    settle_until_deadline(worker)
    logging.shutdown()
    os._exit(EXIT_STUCK_JOB)
