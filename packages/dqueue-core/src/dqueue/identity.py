"""Who this process is: the ``host:pid`` identity of workers and consumers, and its runner."""

from __future__ import annotations

import os
import secrets
from typing import Final

__all__ = ["RUNNER_PID_ENV", "new_worker_id", "process_identity", "runner_is_gone"]

#: Set by the runner in each worker's environment: the pid the worker's parent must have.
RUNNER_PID_ENV: Final = "DQUEUE_RUNNER_PID"


def process_identity() -> str:
    """``host:pid``, for worker ids and logs."""
    return f"{os.uname().nodename}:{os.getpid()}"


def new_worker_id() -> str:
    """``host:pid:random``: unique even for equal slot numbers on two hosts or deploys."""
    return f"{process_identity()}:{secrets.token_hex(4)}"


def runner_is_gone() -> bool:
    """True when this worker was started by a runner that has since died (it is orphaned)."""
    expected = os.environ.get(RUNNER_PID_ENV)
    if not expected:
        return False
    try:
        return int(expected) != os.getppid()
    except ValueError:
        return False
