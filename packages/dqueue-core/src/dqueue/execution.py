"""Running one job: resolve its task, call it inside the middleware, decide what comes next.

The worker and the synchronous backend both run jobs through :func:`execute`, so a task
behaves alike inline and in a worker; :func:`decide` turns the run into the outcome to settle.
"""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .backends.base import Backend, Outcome, OutcomeKind
from .backends.inspection import JobProgress
from .backoff import backoff_delay
from .errors import BackendError, JobTimeout, NoCurrentJob, Retry, TaskNotRegistered
from .job import Job, JobFailure, check_json_value
from .json_values import encode_progress
from .middleware import Middleware, MiddlewareChain
from .registry import REGISTRY
from .settings import Settings
from .unchecked import unchecked_builder

if TYPE_CHECKING:
    from .task import Task

__all__ = [
    "CallWrapper",
    "Execution",
    "ProgressSink",
    "add_call_wrapper",
    "begin_run",
    "call_wrapper_modules",
    "checked_result",
    "current_job",
    "decide",
    "execute",
    "failed_execution",
    "has_call_wrappers",
    "progress_sink",
    "remove_call_wrapper",
    "run_failed",
    "run_succeeded",
    "running",
    "set_progress",
]

_logger = logging.getLogger("dqueue.execution")

#: ``(task, job, call) -> result``: wraps the call of a task (dqueue-django adds
#: ``transaction.atomic()`` for atomic tasks). Must call ``call()`` exactly once.
CallWrapper = Callable[["Task[Any, Any]", Job, Callable[[], Any]], Any]
_call_wrappers: list[CallWrapper] = []
#: The wrappers that also wrap ``async def`` tasks (not those that belong to a thread).
_coroutine_wrappers: list[CallWrapper] = []
#: ``(job, progress) -> kept``: where :func:`set_progress` sends the progress of a running job;
#: a store's :meth:`~dqueue.backends.inspection.JobProgress.set_progress` with its worker id.
ProgressSink = Callable[[Job, Any], bool]
# The running job and where its progress goes, as one tuple: one context variable set per job,
# as before progress existed (issue 12 counts the microseconds a job costs).
_current_job: contextvars.ContextVar[tuple[Job, ProgressSink | None] | None] = (
    contextvars.ContextVar("dqueue_current_job", default=None)
)


def current_job() -> Job | None:
    """The job whose task runs in this thread or asyncio task (attempt, id, meta), or ``None``.

    .. code-block:: python

        @task
        def charge(order_id: int) -> None:
            job = dqueue.current_job()
            log.info("charging %s, attempt %d", order_id, job.attempt if job else 0)
    """
    running = _current_job.get()
    return None if running is None else running[0]


def set_progress(progress: Any) -> bool:
    """Report how far the running task got, for readers to see while it runs.

    ``progress`` is a small JSON value (a fraction, counts, a short message: at most 4 KiB of
    JSON). Each call replaces the one before. ``dqueue job ID``, ``dqueue jobs QUEUE --state
    in_flight``, their ``manage.py`` twins and the admin's job page show it while the job is in
    flight; a job that keeps its result (``store_result``) keeps the last progress in its
    result record after it finishes. Inline (the synchronous backend) it is kept in the
    result record only.

    .. code-block:: python

        @task
        def import_rows(path: str) -> None:
            rows = load(path)
            for done, row in enumerate(rows, 1):
                save(row)
                if done % 100 == 0:
                    dqueue.set_progress({"done": done, "total": len(rows)})

    Returns whether the store kept it (``False`` where the store keeps no progress, or the
    worker no longer holds the job's lease); the task goes on either way.

    Raises:
        NoCurrentJob: no task is running in this thread (or task of this context).
        EncodeError: ``progress`` is not JSON, or too big; the message names the problem.
    """
    running = _current_job.get()
    if running is None:
        raise NoCurrentJob(
            "dqueue.set_progress() reports the progress of a running task: call it from inside "
            "a task while a worker (or the synchronous backend) runs it"
        )
    job, sink = running
    if sink is None:
        encode_progress(progress)  # refused alike where it is kept and where it is not
        return False
    return sink(job, progress)


def progress_sink(backend: Backend, worker_id: str) -> ProgressSink | None:
    """Where the tasks a worker runs report progress: ``backend``, if it keeps progress.

    A store that fails to keep it is logged, not raised: a task does not fail for its progress.
    """
    if not isinstance(backend, JobProgress):  # checked once per worker, not per job
        return None
    keep = backend.set_progress

    def sink(job: Job, progress: Any) -> bool:
        try:
            return keep(job, progress, worker_id=worker_id)
        except BackendError as exc:
            _logger.warning("the progress of %s was not kept: %s", job.describe(), exc)
            return False

    return sink


def add_call_wrapper(wrapper: CallWrapper, *, wraps_coroutines: bool = True) -> None:
    """Wrap every task call with ``wrapper`` (outermost last added). Idempotent.

    ``wraps_coroutines=False``: leave ``async def`` tasks out. A wrapper whose state belongs
    to the calling thread (a database transaction, its connections) means nothing around a
    coroutine, whose awaits run elsewhere; left out, such tasks can also run concurrently
    (``DQUEUE_ASYNC_CONCURRENCY``).
    """
    if wrapper not in _call_wrappers:
        _call_wrappers.append(wrapper)
        if wraps_coroutines:
            _coroutine_wrappers.append(wrapper)


def remove_call_wrapper(wrapper: CallWrapper) -> None:
    """Stop wrapping task calls with ``wrapper`` (added by :func:`add_call_wrapper`)."""
    for wrappers in (_call_wrappers, _coroutine_wrappers):
        if wrapper in wrappers:
            wrappers.remove(wrapper)


def has_call_wrappers() -> bool:
    """Whether some plugin wraps the calls of ``async def`` tasks.

    Such tasks then run one at a time inside its wrappers, never concurrently.
    """
    return bool(_coroutine_wrappers)


def call_wrapper_modules() -> frozenset[str]:
    """The modules of the registered call wrappers: their frames are a plugin's, not a task's."""
    return frozenset(wrapper.__module__ for wrapper in _call_wrappers)


@dataclass(frozen=True, slots=True, kw_only=True)
class Execution:
    """What happened when a job ran."""

    job: Job
    started_at: float
    finished_at: float
    result: Any = None
    exception: BaseException | None = None
    failure: JobFailure | None = None
    task: Task[Any, Any] | None = None

    @property
    def ok(self) -> bool:
        """The task returned without raising."""
        return self.exception is None


# Built without their frozen __init__ (see dqueue.unchecked): one of each for every job run.
_execution_of = unchecked_builder(Execution)
_outcome_of = unchecked_builder(Outcome)


def execute(
    job: Job,
    *,
    worker_id: str,
    middleware: MiddlewareChain | Sequence[Middleware] = (),
    now: Callable[[], float] = time.time,
    progress: ProgressSink | None = None,
) -> Execution:
    """Run ``job`` once and report what happened; only ``BaseException``s escape.

    A task that is not registered fails like any other (:func:`decide` dead-letters it); nothing
    is imported by a job's name. A worker passes a chain built once, so a run looks nothing up.
    ``progress`` receives what the task reports with :func:`set_progress` (``None``: kept
    nowhere).
    """
    chain = MiddlewareChain.of(middleware)
    started = now()
    task: Task[Any, Any] | None = None
    try:
        task = begin_run(job, chain, worker_id)
        result = checked_result(job, _call(task, job, progress))
    except Exception as exc:
        return run_failed(job, chain, exc, started, now(), task)
    return run_succeeded(job, chain, task, result, started, now())


def begin_run(job: Job, chain: MiddlewareChain, worker_id: str) -> Task[Any, Any]:
    """The task of ``job``, once the middleware's ``before`` hooks ran (raises as a run does)."""
    task = REGISTRY.resolve(job.task)
    for before in chain.before:
        before(job, job.queue, worker_id)
    return task


def checked_result(job: Job, result: Any) -> Any:
    """``result``, refused (``EncodeError``) when the job keeps results and it is not JSON."""
    if job.result_ttl is not None:
        check_json_value(result, where=f"the return value of {job.task}")
    return result


def run_succeeded(
    job: Job,
    chain: MiddlewareChain,
    task: Task[Any, Any],
    result: Any,
    started: float,
    finished: float,
) -> Execution:
    """The run of ``job`` that returned ``result``, told to the middleware."""
    if chain.on_result:
        chain.notify(chain.on_result, job, result, finished - started)
    return _execution_of(
        job=job, started_at=started, finished_at=finished, result=result, task=task
    )


def run_failed(
    job: Job,
    chain: MiddlewareChain,
    exc: Exception,
    started: float,
    finished: float,
    task: Task[Any, Any] | None,
) -> Execution:
    """The run of ``job`` that raised ``exc``, told to the middleware."""
    if chain.on_exception:
        chain.notify(chain.on_exception, job, finished - started, type(exc), exc, exc.__traceback__)
    return failed_execution(job, exc, started, finished, task=task)


@contextlib.contextmanager
def running(job: Job, progress: ProgressSink | None = None) -> Iterator[None]:
    """Make ``job`` the :func:`current_job` of this thread, or of this asyncio task.

    ``progress`` receives what its task reports with :func:`set_progress`.
    """
    token = _current_job.set((job, progress))
    try:
        yield
    finally:
        _current_job.reset(token)


def failed_execution(
    job: Job,
    exc: BaseException,
    started: float,
    finished: float,
    task: Task[Any, Any] | None = None,
) -> Execution:
    """The run of ``job`` that ended in ``exc`` (``task``: the registry's by default)."""
    return Execution(
        job=job,
        started_at=started,
        finished_at=finished,
        exception=exc,
        failure=JobFailure.from_exception(exc, at=finished, attempt=job.attempt),
        task=task or REGISTRY.get(job.task),
    )


def _call(task: Task[Any, Any], job: Job, progress: ProgressSink | None) -> Any:
    token = _current_job.set((job, progress))  # not running(): no generator for every job
    try:
        if not _call_wrappers:  # the common case: no closure to build for every job
            return _completed(task.fn(*job.args, **job.kwargs))

        def call() -> Any:
            return _completed(task.fn(*job.args, **job.kwargs))

        wrapped = call
        coroutine = inspect.iscoroutinefunction(task.fn)
        for wrapper in _coroutine_wrappers if coroutine else _call_wrappers:
            wrapped = functools.partial(wrapper, task, job, wrapped)
        return wrapped()
    finally:
        _current_job.reset(token)


def _completed(result: Any) -> Any:
    """``result``, or what it resolves to when the task was an ``async def``."""
    if result is not None and isinstance(result, Awaitable):  # None: no ABC check
        # The worker runs it to completion on a fresh event loop (inside the call wrappers),
        # so timeouts, retries and results work as for any other task.
        import asyncio  # here: a worker of plain tasks never loads the event loop

        return asyncio.run(_awaited(result))
    return result


async def _awaited(awaitable: Awaitable[Any]) -> Any:
    return await awaitable


def decide(
    execution: Execution, settings: Settings, *, available_at: float | None = None
) -> Outcome:
    """Turn an execution into the outcome to settle: ack, retry or dead-letter.

    ``available_at``: see :attr:`Outcome.available_at`.
    """
    job, exc, task = execution.job, execution.exception, execution.task
    started, finished = execution.started_at, execution.finished_at
    if exc is None:  # built at once: no partial for the outcome of nearly every job
        return _outcome_of(
            job=job,
            kind=OutcomeKind.ACK,
            result=execution.result,
            started_at=started,
            finished_at=finished,
            available_at=available_at,
        )
    outcome = functools.partial(
        Outcome, job=job, started_at=started, finished_at=finished, available_at=available_at
    )
    if isinstance(exc, Retry) and job.attempt < job.max_attempts:
        delay = exc.delay
    elif task is None or isinstance(exc, TaskNotRegistered) or job.attempt >= job.max_attempts:
        return outcome(kind=OutcomeKind.DEAD, failure=execution.failure)
    elif isinstance(exc, (JobTimeout, *task.options.retry_on)):
        delay = None
    else:
        return outcome(kind=OutcomeKind.DEAD, failure=execution.failure)
    if delay is None:
        base = settings.RETRY_BACKOFF
        if task is not None and task.options.retry_backoff is not None:
            base = task.options.retry_backoff
        delay = backoff_delay(
            job.attempt, base_s=base, max_s=settings.RETRY_BACKOFF_MAX, jitter=settings.RETRY_JITTER
        )
    run_after = execution.finished_at + delay
    return outcome(kind=OutcomeKind.RETRY, failure=execution.failure, run_after=run_after)
