"""Job middleware: hooks around every run, with django-lightweight-queue's signatures.

A middleware has any of ``process_job`` (before the task, in list order), ``process_result``
and ``process_exception`` (after a success or a failure, in reverse order): one protocol each
below. An exception from ``process_job`` fails that run of the job (retried as usual); one from
the others is logged and ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeAlias, runtime_checkable

from .job import Job
from .loading import import_string

__all__ = [
    "LoggingMiddleware",
    "Middleware",
    "MiddlewareChain",
    "ProcessException",
    "ProcessJob",
    "ProcessResult",
    "load_middleware",
]

_logger = logging.getLogger("dqueue.middleware")


@runtime_checkable
class ProcessJob(Protocol):
    """A middleware that runs before each task."""

    def process_job(self, job: Job, queue: str, worker_id: str) -> None:
        """Called before the task; raising fails this run of the job."""


@runtime_checkable
class ProcessResult(Protocol):
    """A middleware told of each success."""

    def process_result(self, job: Job, result: Any, duration_s: float) -> None:
        """Called after the task returned ``result``."""


@runtime_checkable
class ProcessException(Protocol):
    """A middleware told of each failure."""

    def process_exception(
        self,
        job: Job,
        duration_s: float,
        exc_type: type[BaseException],
        exc_value: BaseException,
        traceback: TracebackType | None,
    ) -> None:
        """Called after the task raised ``exc_value``."""


#: A middleware has one or more of the three hooks.
Middleware: TypeAlias = ProcessJob | ProcessResult | ProcessException


class MiddlewareChain:
    """The hooks of a middleware list, sorted once so that a run calls only what exists."""

    __slots__ = ("before", "on_exception", "on_result")

    def __init__(self, middleware: Sequence[Middleware] = ()) -> None:
        self.before = [m.process_job for m in middleware if isinstance(m, ProcessJob)]
        after = list(reversed(middleware))
        self.on_result = [m.process_result for m in after if isinstance(m, ProcessResult)]
        self.on_exception = [m.process_exception for m in after if isinstance(m, ProcessException)]

    @classmethod
    def of(cls, middleware: MiddlewareChain | Sequence[Middleware]) -> MiddlewareChain:
        """``middleware`` itself if it is a chain already, else its chain."""
        return middleware if isinstance(middleware, MiddlewareChain) else cls(middleware)

    @staticmethod
    def notify(hooks: Sequence[Callable[..., None]], *args: Any) -> None:
        """Call each of ``hooks`` (an ``on_*`` list); one that raises is logged and skipped."""
        for hook in hooks:
            try:
                hook(*args)
            except Exception:
                _logger.exception("middleware %s raised; ignored", hook.__qualname__)


class LoggingMiddleware:
    """Logs the start and end of each run at DEBUG level. Arguments are never logged (PII).

    The line a worker writes for each finished run (INFO, or WARNING for a failure, with what
    happens next) comes from :mod:`dqueue.run_log`, whatever the middleware.
    """

    def process_job(self, job: Job, queue: str, worker_id: str) -> None:
        """Log the start of a run."""
        # Checked first: the label is built for every job, and DEBUG is mostly off.
        if _logger.isEnabledFor(logging.DEBUG):
            _logger.debug(
                "running %s (attempt %d of %d)", job.describe(), job.attempt, job.max_attempts
            )

    def process_result(self, job: Job, result: Any, duration_s: float) -> None:
        """Log a success."""
        if _logger.isEnabledFor(logging.DEBUG):
            _logger.debug("finished %s in %.3fs", job.describe(), duration_s)

    def process_exception(
        self,
        job: Job,
        duration_s: float,
        exc_type: type[BaseException],
        exc_value: BaseException,
        traceback: TracebackType | None,
    ) -> None:
        """Log a failure (its traceback is in the worker's line)."""
        _logger.debug(
            "failed %s after %.3fs (attempt %d of %d)",
            job.describe(),
            duration_s,
            job.attempt,
            job.max_attempts,
        )


def load_middleware(paths: Sequence[str]) -> list[Middleware]:
    """Instantiate each dotted path in ``paths``, in order."""
    return [import_string(path, setting="DQUEUE_MIDDLEWARE")() for path in paths]
