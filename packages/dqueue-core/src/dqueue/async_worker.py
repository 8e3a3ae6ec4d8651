"""Running ``async def`` tasks concurrently on one event loop: ``DQUEUE_ASYNC_CONCURRENCY`` > 1.

.. code-block:: console

    $ DQUEUE_ASYNC_CONCURRENCY=100 dqueue worker http
    $ dqueue worker http --async-concurrency 100          # the same, for this worker only

The worker keeps one event loop in a thread of its own and up to N jobs in flight. Its own
thread reserves as many jobs as there are free slots (nothing beyond them: each reserved job
starts at once), hands the jobs of ``async def`` tasks to the loop and settles outcomes as jobs
finish, through the same decide and settle path as a worker that runs one job at a time
(:mod:`dqueue.worker`). Each job runs in an asyncio task of its own, so
:func:`dqueue.current_job` is per job, and its ``timeout`` is an ``asyncio.timeout``: the task is
cancelled and the run fails with :class:`~dqueue.errors.JobTimeout`, retried as any timeout. The
lease keeper renews the lease of every job in flight, as it does for prefetched jobs.

Jobs of plain (``def``) tasks run one at a time in the worker's own thread, with their usual
timeouts, while the loop goes on with the async ones. So do async tasks when a plugin wraps task
calls (dqueue-django does): a wrapper is synchronous and cannot span interleaved coroutines.

A job still running ``DQUEUE_TIMEOUT_GRACE`` seconds past its timeout (it ignored the
cancellation, or blocked the loop) is given up on as a stuck job is: a worker that owns its
process settles it as timed out and ends the process (exit code 70) for its runner to replace.

On stop the worker reserves nothing more and waits for the jobs in flight, settling each as it
finishes, for up to ``DQUEUE_SHUTDOWN_TIMEOUT`` minus the time it keeps for settling (5 s); the
jobs still running then are cancelled and left to their leases, as when a runner kills a worker.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import threading
import time
from collections.abc import Coroutine
from typing import TYPE_CHECKING, Any, Final

from .errors import JobTimeout
from .execution import (
    Execution,
    begin_run,
    checked_result,
    has_call_wrappers,
    run_failed,
    run_succeeded,
    running,
)
from .job import Job
from .registry import REGISTRY
from .stopping import give_up_on
from .threads import BackgroundThread

if TYPE_CHECKING:
    from .task import Task
    from .worker import Worker

__all__ = ["AsyncJobs", "serve_concurrently"]

_logger = logging.getLogger("dqueue.worker")

_SETTLE_MARGIN_S: Final = 5.0  # of DQUEUE_SHUTDOWN_TIMEOUT, kept for settling after the wait
_CLOSE_S: Final = 5.0  # how long a stopping worker waits for cancelled runs to unwind


class AsyncJobs:
    """An event loop in a thread of its own, running jobs of async tasks; see the module.

    :meth:`start` hands jobs to the loop; finished runs queue up for :meth:`finished`, and
    :attr:`done` is set whenever one does. Only the worker's thread calls these methods.
    """

    def __init__(self, worker: Worker) -> None:
        self._worker = worker
        self._loop = asyncio.new_event_loop()
        self._thread = BackgroundThread(self._loop.run_forever, name="dqueue-event-loop")
        self._tasks: dict[str, asyncio.Task[None]] = {}  # job id -> its run (the loop's thread)
        self._finished: collections.deque[Execution] = collections.deque()
        self._signalling = False  # a call of _signal is scheduled (the loop's thread)
        #: Set when a run finishes; the worker clears it before it collects.
        self.done = threading.Event()
        #: The jobs handed to the loop and not collected yet, with their start (monotonic); the
        #: worker's own dict, so that its signal handler sees them.
        self.in_flight = worker._in_flight

    def start(self, jobs: list[Job]) -> None:
        """Run ``jobs`` on the loop (one thread switch for the whole batch)."""
        now = time.monotonic()
        for job in jobs:
            self.in_flight[job.id] = (job, now)
        if not self._thread.is_alive():
            self._thread.start()
        self._loop.call_soon_threadsafe(self._spawn, jobs)

    @property
    def running(self) -> int:
        """How many jobs in flight have not finished yet."""
        return len(self.in_flight) - len(self._finished)

    def finished(self) -> list[Execution]:
        """The runs finished since the last call, taken out of :attr:`in_flight`."""
        runs: list[Execution] = []
        while self._finished:
            execution = self._finished.popleft()
            self.in_flight.pop(execution.job.id, None)
            runs.append(execution)
        return runs

    def overdue(self, grace_s: float) -> tuple[Job, float] | None:
        """A job in flight for longer than its timeout and ``grace_s``, with its start."""
        now = time.monotonic()
        for job, started in self.in_flight.values():
            if job.timeout is not None and now - started > job.timeout + grace_s:
                return job, started
        return None

    def close(self) -> None:
        """Cancel the runs still in flight (left to their leases), stop the loop and its thread."""
        self.in_flight.clear()
        if self._thread.is_alive():
            cancelled = asyncio.run_coroutine_threadsafe(self._cancel_all(), self._loop)
            try:
                cancelled.result(timeout=_CLOSE_S)
            except TimeoutError:  # a task blocks the loop: the thread is a daemon, left behind
                _logger.warning("the event loop did not stop within %gs", _CLOSE_S)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(timeout=_CLOSE_S)
        if not self._thread.is_alive():
            self._loop.close()

    # -- the loop's thread -------------------------------------------------------------------

    def _spawn(self, jobs: list[Job]) -> None:
        for job in jobs:
            # Each task runs in a copy of the context: current_job() is this job's in it.
            self._tasks[job.id] = self._loop.create_task(self._run(job))

    async def _run(self, job: Job) -> None:
        worker = self._worker
        chain, now = worker.middleware, worker.clock.time
        started = now()
        task: Task[Any, Any] | None = None
        try:
            task = begin_run(job, chain, worker.worker_id)
            with running(job, worker._progress):
                result = await _within_timeout(job, task.fn(*job.args, **job.kwargs))
            execution = run_succeeded(job, chain, task, checked_result(job, result), started, now())
        except Exception as exc:
            execution = run_failed(job, chain, exc, started, now(), task)
        except asyncio.CancelledError:
            return  # cancelled by close(): its lease brings the job back
        finally:
            self._tasks.pop(job.id, None)
        self._finished.append(execution)
        if not self._signalling:
            # Once per turn of the loop, after every run that ends in it: the worker then
            # settles them in one round trip rather than waking for each.
            self._signalling = True
            self._loop.call_soon(self._signal)

    def _signal(self) -> None:
        self._signalling = False
        self.done.set()

    async def _cancel_all(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _within_timeout(job: Job, call: Coroutine[Any, Any, Any]) -> Any:
    """Await ``call``, cancelled after the job's timeout (then :class:`JobTimeout`).

    A task that swallows the cancellation and returns still ran past its timeout: it fails too.
    """
    if job.timeout is None:
        return await call
    timed_out = JobTimeout(f"{job.describe()} timed out after {job.timeout:g}s")
    try:
        async with asyncio.timeout(job.timeout) as scope:
            result = await call
    except TimeoutError:
        if scope.expired():
            raise timed_out from None
        raise  # the task's own TimeoutError
    if scope.expired():
        raise timed_out
    return result


def is_concurrent(task: Task[Any, Any] | None) -> bool:
    """Whether jobs of ``task`` run on the event loop (async, and no call wrapper around it)."""
    return task is not None and inspect.iscoroutinefunction(task.fn) and not has_call_wrappers()


def serve_concurrently(worker: Worker) -> None:
    """The loop of a worker with ``DQUEUE_ASYNC_CONCURRENCY`` above 1, until it stops.

    A part of :class:`~dqueue.worker.Worker` kept in a module of its own: it drives the
    worker's own steps (reserve, admit, finish, flush), only in another order.
    """
    concurrency, limit = worker.settings.ASYNC_CONCURRENCY, worker.settings.WORKER_MAX_JOBS
    if has_call_wrappers():
        _logger.warning(
            "worker %s: a plugin wraps task calls, so async tasks run one at a time here "
            "(DQUEUE_ASYNC_CONCURRENCY=%d has no effect)",
            worker.name,
            concurrency,
        )
    jobs = AsyncJobs(worker)
    kinds: dict[str, bool] = {}  # task name -> whether its jobs run on the loop
    poll_s = worker.settings.POLL_INTERVAL
    try:
        while not worker._stop.is_set() and not worker._should_recycle():
            _give_up_on_overdue(worker, jobs)
            # Finished runs free their slots before they are collected: the next jobs start
            # first, their outcomes are decided and settled while those run.
            free = concurrency - jobs.running
            if limit is not None:
                free = min(free, limit - worker.processed - len(jobs.in_flight))
            reserved = None
            if free > 0:
                # With jobs in flight, don't wait: their outcomes are to be settled.
                reserved = worker._reserve(free, 0.0 if jobs.in_flight else None)
                if reserved:
                    _start(worker, jobs, reserved, kinds)
            collected = _collect(worker, jobs)
            worker._flush()
            if reserved:
                continue
            # Idle once a reserve found nothing after the last settle (a retry may be due now).
            idle = reserved is not None and not collected and not jobs.in_flight
            idle = idle and not worker._pending
            if worker.burst and idle:
                break
            if jobs.in_flight:
                # Woken by a finished run, or after a poll interval to reserve again.
                jobs.done.wait(poll_s if free > 0 else 1.0)
                jobs.done.clear()
        _wait_for_in_flight(worker, jobs)
    finally:
        if jobs.in_flight:
            _logger.warning(
                "worker %s stops with %d job(s) running; their leases will bring them back",
                worker.name,
                len(jobs.in_flight),
            )
        jobs.close()


def _start(worker: Worker, jobs: AsyncJobs, reserved: list[Job], kinds: dict[str, bool]) -> None:
    """Hand the async jobs to the loop at once; run the plain ones here, one at a time."""
    plain: list[Job] = []
    concurrent: list[Job] = []
    for job in reserved:
        on_loop = kinds.get(job.task)
        if on_loop is None:
            on_loop = kinds[job.task] = is_concurrent(REGISTRY.get(job.task))
        if on_loop:
            if worker._admit(job):
                concurrent.append(job)
        else:
            plain.append(job)
    if concurrent:
        jobs.start(concurrent)
    for job in plain:
        if worker._stop.is_set():
            break  # the rest stay waiting: the worker returns them unstarted
        if worker._admit(job):
            worker._run_one(job)
        _collect(worker, jobs)


def _collect(worker: Worker, jobs: AsyncJobs) -> int:
    """Decide and queue the outcomes of the runs that finished; return how many."""
    runs = jobs.finished()
    for execution in runs:
        worker._finish(execution)
    return len(runs)


def _give_up_on_overdue(worker: Worker, jobs: AsyncJobs) -> None:
    """End the process over a job past its timeout and grace (a worker that owns its process)."""
    overdue = jobs.overdue(worker.settings.TIMEOUT_GRACE)
    if overdue is not None and worker._owns_process:
        job, started = overdue
        # Its start by the worker's clock: as far back from now as its monotonic start.
        give_up_on(worker, job, worker.clock.time() - (time.monotonic() - started))


def _wait_for_in_flight(worker: Worker, jobs: AsyncJobs) -> None:
    """Stopping: settle the jobs in flight as they finish, until the stop deadline."""
    wait_s = max(worker.settings.SHUTDOWN_TIMEOUT - _SETTLE_MARGIN_S, 0.0)
    deadline = time.monotonic() + wait_s
    if jobs.in_flight:
        count = len(jobs.in_flight)
        _logger.info("worker %s waits up to %gs for %d running job(s)", worker.name, wait_s, count)
    while True:
        _collect(worker, jobs)
        worker._flush()
        left = deadline - time.monotonic()
        if not jobs.in_flight or left <= 0:
            return
        _give_up_on_overdue(worker, jobs)
        jobs.done.wait(min(left, 1.0))
        jobs.done.clear()
