"""Job middleware: hooks around every run, with django-lightweight-queue's signatures.

A middleware is any object with some of these methods:

- ``process_job(job, queue, worker_id)``: before the task, in list order;
- ``process_result(job, result, duration_s)``: after a success, in reverse order;
- ``process_exception(job, duration_s, exc_type, exc_value, traceback)``: after a failure, in
  reverse order.

A hook's own exception never kills the worker: one from ``process_job`` fails that run of the
job (retried as usual), one from the others is logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from types import TracebackType
from typing import Any

from .job import Job
from .loading import import_string

__all__ = ["LoggingMiddleware", "load_middleware"]

_logger = logging.getLogger("dqueue.middleware")


class LoggingMiddleware:
    """Logs each run, its duration and its failure. Arguments are never logged (PII)."""

    def process_job(self, job: Job, queue: str, worker_id: str) -> None:
        """Log the start of a run."""
        _logger.debug(
            "running %s (attempt %d of %d)", job.describe(), job.attempt, job.max_attempts
        )

    def process_result(self, job: Job, result: Any, duration_s: float) -> None:
        """Log a success."""
        _logger.debug("finished %s in %.3fs", job.describe(), duration_s)

    def process_exception(
        self,
        job: Job,
        duration_s: float,
        exc_type: type[BaseException],
        exc_value: BaseException,
        traceback: TracebackType | None,
    ) -> None:
        """Log a failure with its traceback."""
        _logger.warning(
            "failed %s after %.3fs (attempt %d of %d)",
            job.describe(),
            duration_s,
            job.attempt,
            job.max_attempts,
            exc_info=(exc_type, exc_value, traceback),
        )


def load_middleware(paths: Sequence[str]) -> list[object]:
    """Instantiate each dotted path in ``paths``, in order."""
    return [import_string(path, setting="DQUEUE_MIDDLEWARE")() for path in paths]
