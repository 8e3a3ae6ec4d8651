"""A worker with ``DQUEUE_ASYNC_CONCURRENCY`` above 1, on real stores (memory, SQLite, Redis).

Overlap is proven with gates that open only once every job of a batch has started (a worker
running one job at a time would never open them: the job fails after its own timeout); no test
asserts a timing.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dqueue
from dqueue import task
from dqueue.backends.base import Backend, JobStatus
from dqueue.clock import SYSTEM_CLOCK
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from dqueue.testing import wait_for
from dqueue.worker import Worker
from tests.support.backends import BACKEND_FACTORIES, UNAVAILABLE_BACKENDS

QUEUE = "asyncwork"
#: How long a job waits for the others of its batch before it gives up (a failed test).
GATE_S = 30.0

STARTED: list[Any] = []
GATES: dict[str, asyncio.Event] = {}
RELEASE = threading.Event()  # opened by a test: jobs waiting on it return


def _backends() -> list[Any]:
    names = ("memory", "sqlite", "reliable_redis")
    return [
        pytest.param(name, marks=pytest.mark.skip(reason=UNAVAILABLE_BACKENDS[name]))
        if name in UNAVAILABLE_BACKENDS
        else name
        for name in names
    ]


@pytest.fixture(autouse=True)
def _reset() -> None:
    STARTED.clear()
    GATES.clear()
    BUSY.clear()
    RELEASE.clear()


def _settings(**changes: Any) -> Settings:
    base: dict[str, Any] = {
        "MIDDLEWARE": (),
        "RETRY_BACKOFF": 0.0,
        "RETRY_JITTER": 0.0,
        "LEASE_SECONDS": 30.0,
        "ASYNC_CONCURRENCY": 8,
    }
    return Settings(**{**base, **changes})


@pytest.fixture(params=_backends())
def make_backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    built: list[Backend] = []

    def make(settings: Settings) -> Backend:
        backend = BACKEND_FACTORIES[request.param](settings, SYSTEM_CLOCK, tmp_path)
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()


async def _all_started(value: Any, batch: int) -> None:
    """Note this run's start, then wait until ``batch`` runs of the same attempt have started."""
    job = dqueue.current_job()
    attempt = job.attempt if job else 0
    gate = GATES.setdefault(f"attempt {attempt}", asyncio.Event())
    STARTED.append((value, attempt))
    if sum(1 for _, seen in STARTED if seen == attempt) >= batch:
        gate.set()
    await asyncio.wait_for(gate.wait(), GATE_S)


@task(queue=QUEUE)
async def meet_the_others(value: int, batch: int) -> list[Any]:
    await _all_started(value, batch)
    job = dqueue.current_job()
    dqueue.set_progress({"value": value})  # kept as this job's, not another's
    return [value, job.id if job else None]


BUSY: dict[str, Any] = {}  # "metrics": the worker's metrics hook; "seen": its busy gauge


@task(queue=QUEUE)
async def meet_then_read_busy(value: int, batch: int) -> None:
    await _all_started(value, batch)
    BUSY.setdefault("seen", []).append(BUSY["metrics"].busy)


@task(queue=QUEUE, max_attempts=2)
async def meet_then_fail(value: int, batch: int) -> None:
    await _all_started(value, batch)
    raise ValueError("fails on purpose")


@task(queue=QUEUE)
def plain_double(value: int) -> int:
    return value * 2


@task(queue=QUEUE)
async def outlive_the_timeout(batch: int) -> None:
    await _all_started("slow", batch)
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        GATES.setdefault("cancelled", asyncio.Event()).set()
        raise


@task(queue=QUEUE)
async def swallow_the_timeout() -> str:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        GATES.setdefault("cancelled", asyncio.Event()).set()
    return "pretends to be fine"


@task(queue=QUEUE)
async def finish_after_the_cancellation(value: int, batch: int) -> int:
    await _all_started(value, batch)
    gate = GATES.setdefault("cancelled", asyncio.Event())
    await asyncio.wait_for(gate.wait(), GATE_S)
    return value


@task(queue=QUEUE)
async def wait_for_release(value: int) -> int:
    STARTED.append(value)
    await asyncio.to_thread(RELEASE.wait, GATE_S)
    return value


@task(queue=QUEUE)
async def outlive_leases(value: int, rounds: int, lease_s: float) -> str:
    await _all_started(value, 2)
    for _ in range(rounds):
        await asyncio.sleep(lease_s)
    return "done"


def _job(fn: Any, *args: Any, **options: Any) -> Job:
    return Job(
        id=new_job_id(),
        task=fn.name,
        queue=QUEUE,
        args=args,
        enqueued_at=SYSTEM_CLOCK.time(),
        max_attempts=options.pop("max_attempts", fn.options.max_attempts or 1),
        result_ttl=options.pop("result_ttl", 600.0),
        **options,
    )


def _burst(settings: Settings, backend: Backend) -> Worker:
    return Worker(settings, QUEUE, 1, backend=backend, burst=True)


def test_async_jobs_run_at_once_each_with_its_own_current_job_progress_and_result(
    make_backend: Any,
) -> None:
    settings = _settings()
    backend = make_backend(settings)
    jobs = [_job(meet_the_others, n, 6) for n in range(6)]
    backend.enqueue_many(jobs)
    worker = _burst(settings, backend)
    assert worker.run() == 0
    assert worker.processed == 6
    for n, job in enumerate(jobs):
        result = backend.result(job.id)
        assert result is not None
        assert (result.status, result.return_value) == (JobStatus.SUCCEEDED, [n, job.id])
        assert result.progress == {"value": n}
    assert backend.counts(QUEUE).total == 0


def test_the_busy_gauge_counts_every_async_job_running(make_backend: Any) -> None:
    pytest.importorskip("prometheus_client")
    from dqueue.metrics import WorkerMetrics

    settings = _settings(ASYNC_CONCURRENCY=4)
    backend = make_backend(settings)
    BUSY["metrics"] = metrics = WorkerMetrics(QUEUE)
    backend.enqueue_many([_job(meet_then_read_busy, n, 4) for n in range(4)])
    Worker(settings, QUEUE, 1, backend=backend, burst=True, metrics=metrics).run()
    assert max(BUSY["seen"]) == 4  # all four met: the gauge counted all four
    assert metrics.busy == 0


def test_plain_tasks_still_run_beside_async_ones(make_backend: Any) -> None:
    settings = _settings(ASYNC_CONCURRENCY=4)
    backend = make_backend(settings)
    plain = _job(plain_double, 21)
    backend.enqueue_many([_job(meet_the_others, n, 3) for n in range(3)] + [plain])
    assert _burst(settings, backend).run() == 0
    result = backend.result(plain.id)
    assert result is not None
    assert result.return_value == 42
    counts = backend.counts(QUEUE)
    assert (counts.total, counts.dead) == (0, 0)


def test_failing_async_jobs_are_retried_then_dead_lettered(make_backend: Any) -> None:
    settings = _settings(ASYNC_CONCURRENCY=3)
    backend = make_backend(settings)
    backend.enqueue_many([_job(meet_then_fail, n, 3) for n in range(3)])
    _burst(settings, backend).run()  # the retries are due at once: this run takes them too
    letters = backend.dead_letters(QUEUE)
    assert len(letters) == 3
    assert {letter.job.attempt for letter in letters} == {2}
    assert {letter.failure.message for letter in letters} == {"fails on purpose"}
    assert backend.counts(QUEUE).total == 0


def test_a_timeout_cancels_only_its_own_job(make_backend: Any) -> None:
    settings = _settings(ASYNC_CONCURRENCY=4)
    backend = make_backend(settings)
    slow = _job(outlive_the_timeout, 3, timeout=0.2)
    others = [_job(finish_after_the_cancellation, n, 3) for n in range(2)]
    backend.enqueue_many([slow, *others])
    assert _burst(settings, backend).run() == 0
    [letter] = backend.dead_letters(QUEUE)
    assert letter.job.id == slow.id
    assert letter.failure.exception_type == "dqueue.errors.JobTimeout"
    assert "timed out after 0.2s" in letter.failure.message
    for n, job in enumerate(others):
        result = backend.result(job.id)
        assert result is not None
        assert result.return_value == n


def test_an_async_job_that_swallows_its_timeout_still_fails(make_backend: Any) -> None:
    settings = _settings(ASYNC_CONCURRENCY=2)
    backend = make_backend(settings)
    backend.enqueue(_job(swallow_the_timeout, timeout=0.2))
    _burst(settings, backend).run()
    [letter] = backend.dead_letters(QUEUE)
    assert letter.failure.exception_type == "dqueue.errors.JobTimeout"


def test_the_lease_of_a_long_async_job_is_renewed_so_it_runs_once(make_backend: Any) -> None:
    lease_s = 1.0
    settings = _settings(LEASE_SECONDS=lease_s, ASYNC_CONCURRENCY=2)
    backend = make_backend(settings)
    jobs = [_job(outlive_leases, n, 3, lease_s) for n in range(2)]
    backend.enqueue_many(jobs)
    worker = Worker(settings, QUEUE, 1, backend=backend)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        # Another worker's recovery, again and again: it must never find the lease expired.
        recovered = 0

        def finished() -> bool:
            nonlocal recovered
            recovered += backend.recover()
            results = [backend.result(job.id) for job in jobs]
            return all(r is not None and r.status is JobStatus.SUCCEEDED for r in results)

        wait_for(finished, timeout=60)
    finally:
        worker.stop()
        thread.join(30)
    assert recovered == 0
    assert sorted(STARTED) == [(0, 1), (1, 1)]  # each ran once
    assert backend.counts(QUEUE).total == 0


def _serve_in_thread(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run)
    thread.start()
    return thread


def test_a_graceful_stop_finishes_and_settles_the_jobs_in_flight(make_backend: Any) -> None:
    settings = _settings(ASYNC_CONCURRENCY=4)
    backend = make_backend(settings)
    jobs = [_job(wait_for_release, n) for n in range(6)]
    backend.enqueue_many(jobs)
    worker = Worker(settings, QUEUE, 1, backend=backend)
    thread = _serve_in_thread(worker)
    try:
        wait_for(lambda: len(STARTED) == 4, timeout=30)
        worker.stop()
        RELEASE.set()
    finally:
        RELEASE.set()
        thread.join(30)
    assert not thread.is_alive()
    assert worker.processed == 4
    results = [backend.result(job.id) for job in jobs]
    assert sum(1 for r in results if r is not None and r.status is JobStatus.SUCCEEDED) == 4
    counts = backend.counts(QUEUE)
    assert (counts.ready, counts.in_flight, counts.dead) == (2, 0, 0)


def test_jobs_still_running_at_the_stop_deadline_come_back_through_their_leases(
    make_backend: Any,
) -> None:
    # DQUEUE_SHUTDOWN_TIMEOUT leaves no time to wait: the running jobs are cancelled.
    settings = _settings(ASYNC_CONCURRENCY=3, SHUTDOWN_TIMEOUT=0.0, LEASE_SECONDS=1.0)
    backend = make_backend(settings)
    backend.enqueue_many([_job(wait_for_release, n, max_attempts=3) for n in range(3)])
    worker = Worker(settings, QUEUE, 1, backend=backend)
    thread = _serve_in_thread(worker)
    try:
        wait_for(lambda: len(STARTED) == 3, timeout=30)
        worker.stop()
        thread.join(30)
    finally:
        RELEASE.set()
        thread.join(30)
    assert worker.processed == 0
    recovered = 0

    def all_back() -> bool:
        nonlocal recovered
        recovered += backend.recover()
        return recovered == 3

    wait_for(all_back, timeout=30)
    again = backend.reserve(QUEUE, worker_id="another", timeout_s=0, limit=10)
    assert sorted(job.args[0] for job in again) == [0, 1, 2]


def test_a_wrapper_that_belongs_to_a_thread_leaves_async_tasks_concurrent(
    make_backend: Any,
) -> None:
    # dqueue-django's transaction and connection wrappers are of this kind: they wrap plain
    # tasks only, so async ones still meet on the loop (the gate opens when all 4 started).
    from dqueue import execution

    wrapped: list[str] = []

    def thread_bound(fn: Any, job: Job, call: Any) -> Any:
        wrapped.append(job.task)
        return call()

    execution.add_call_wrapper(thread_bound, wraps_coroutines=False)
    try:
        assert not execution.has_call_wrappers()
        settings = _settings()
        backend = make_backend(settings)
        backend.enqueue_many([_job(meet_the_others, n, 4) for n in range(4)])
        backend.enqueue(_job(plain_double, 21))
        worker = _burst(settings, backend)
        assert worker.run() == 0
        assert worker.processed == 5
    finally:
        execution.remove_call_wrapper(thread_bound)
    assert wrapped == [plain_double.name]
    assert backend.counts(QUEUE).total == 0


@task(queue=QUEUE)
async def async_triple(value: int) -> int:
    await asyncio.sleep(0)
    return value * 3


def test_a_wrapper_of_every_call_wraps_async_tasks_too_which_then_run_one_at_a_time() -> None:
    from dqueue import execution

    wrapped: list[str] = []

    def every_call(fn: Any, job: Job, call: Any) -> Any:
        wrapped.append(job.task)
        return call()

    execution.add_call_wrapper(every_call)
    try:
        assert execution.has_call_wrappers()
        assert execution.execute(_job(plain_double, 2), worker_id="w").result == 4
        assert execution.execute(_job(async_triple, 2), worker_id="w").result == 6
    finally:
        execution.remove_call_wrapper(every_call)
    assert not execution.has_call_wrappers()
    assert wrapped == [plain_double.name, async_triple.name]
