"""Running a job inline, in the caller, as the synchronous backend does at enqueue.

The synchronous backend is a dispatcher, not a store: it is given :func:`inline_runner`'s
callable and runs each enqueued job through the same execution path and middleware as a
worker, so a task behaves alike in development and in production.
"""

from __future__ import annotations

from collections.abc import Callable

from .clock import Clock
from .execution import execute
from .job import Job, process_identity
from .middleware import load_middleware
from .settings import Settings

__all__ = ["inline_runner"]


def inline_runner(settings: Settings, clock: Clock) -> Callable[[Job], None]:
    """A callable that runs a job now, as its first attempt.

    The task's exception propagates to the caller unless ``DQUEUE_SYNCHRONOUS_RAISE`` is off
    (django-lightweight-queue logged and swallowed it).
    """
    middleware = load_middleware(settings.MIDDLEWARE)
    raise_errors = settings.SYNCHRONOUS_RAISE

    def run(job: Job) -> None:
        running = job.with_changes(attempt=job.attempt + 1)
        worker_id = f"{process_identity()}:inline"
        execution = execute(running, worker_id=worker_id, middleware=middleware, now=clock.time)
        if execution.exception is not None and raise_errors:
            raise execution.exception

    return run
