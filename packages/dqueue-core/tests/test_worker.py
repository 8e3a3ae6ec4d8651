from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

import pytest

from dqueue import proctitle, task
from dqueue.backends.base import Outcome
from dqueue.backends.memory import MemoryBackend
from dqueue.backoff import Backoff
from dqueue.clock import SYSTEM_CLOCK, Clock, ManualClock
from dqueue.errors import BackendUnavailable, JobTimeout, Retry
from dqueue.hooks import WorkerHooks
from dqueue.job import Job, new_job_id
from dqueue.prefetch import AdaptivePrefetch
from dqueue.settings import Settings
from dqueue.worker import Worker, new_worker_id

RAN: list[Any] = []
CURRENT: dict[str, Worker] = {}


def process_title() -> str:
    """What ``ps`` shows when setproctitle is installed, else the title last set."""
    if proctitle._setproctitle is not None and proctitle._last_title:
        return str(proctitle._setproctitle.getproctitle())
    return proctitle._last_title


@task(queue="work")
def record(value: Any) -> Any:
    RAN.append(value)
    return value


@task(queue="work", max_attempts=2)
def always_fails() -> None:
    RAN.append("fail")
    raise ValueError("broken on purpose")


@task(queue="work")
def stop_worker_then_record(value: Any) -> None:
    CURRENT["worker"].stop()
    RAN.append(value)


@task(queue="work")
def send_sigterm_then_record(value: Any) -> None:
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(0.05)  # the handler runs here, mid-job
    RAN.append(value)


@task(queue="work")
def sleep_past_timeout() -> None:
    try:
        time.sleep(30)
    except JobTimeout:
        RAN.append("interrupted")
        raise


@task(queue="work")
def swallow_timeout() -> str:
    try:
        time.sleep(30)
    except JobTimeout:
        RAN.append("swallowed")
    return "pretends to be fine"


@task(queue="work")
def sleep_for(seconds: float) -> None:
    time.sleep(seconds)
    RAN.append(seconds)


@task(queue="work")
def expire_own_lease(backend_key: str) -> None:
    # Another worker's recovery takes the job away while it runs.
    backend, clock = BACKENDS[backend_key]
    if not RAN:
        clock.advance(backend.options.lease_s + 1)
        backend.recover()
    RAN.append("ran")


@task(queue="work")
def title_now() -> None:
    RAN.append(process_title())


BACKENDS: dict[str, tuple[Any, ManualClock]] = {}


def make_job(fn: Any, *args: Any, clock: Clock = SYSTEM_CLOCK, **options: Any) -> Job:
    return Job(
        id=new_job_id(),
        task=fn.name,
        queue="work",
        args=args,
        enqueued_at=clock.time(),
        max_attempts=options.pop("max_attempts", fn.options.max_attempts or 1),
        timeout=options.pop("timeout", fn.options.timeout),
        **options,
    )


@pytest.fixture(autouse=True)
def _reset() -> None:
    RAN.clear()
    CURRENT.clear()
    BACKENDS.clear()


def settings_for(**changes: Any) -> Settings:
    base: dict[str, Any] = {"MIDDLEWARE": (), "RETRY_JITTER": 0.0, "TIMEOUT_GRACE": 30.0}
    base.update(changes)
    return Settings(**base)


def burst_worker(
    backend: MemoryBackend,
    clock: Clock = SYSTEM_CLOCK,
    settings: Settings | None = None,
    **kwargs: Any,
) -> Worker:
    settings = settings or settings_for(LEASE_SECONDS=backend.options.lease_s)
    return Worker(settings, "work", 1, backend=backend, clock=clock, burst=True, **kwargs)


@pytest.fixture
def backend(clock: ManualClock) -> MemoryBackend:
    return MemoryBackend.from_settings(settings_for(), clock=clock)


def test_worker_runs_every_due_job_once_and_acks_it(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(record, n, clock=clock) for n in range(5)])
    assert burst_worker(backend, clock).run() == 0
    assert sorted(RAN) == [0, 1, 2, 3, 4]
    counts = backend.counts("work")
    assert (counts.ready, counts.delayed, counts.in_flight, counts.dead) == (0, 0, 0, 0)


def test_worker_leaves_jobs_that_are_not_due_yet(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue(make_job(record, "later", clock=clock, run_after=clock.time() + 60))
    burst_worker(backend, clock).run()
    assert RAN == []
    assert backend.counts("work").delayed == 1


def test_worker_records_lateness_of_each_run(backend: MemoryBackend, clock: ManualClock) -> None:
    backend.enqueue(make_job(record, 1, clock=clock, run_after=clock.time() + 5))
    clock.advance(7)
    burst_worker(backend, clock).run()
    assert [sample.seconds for sample in backend.counts("work").recent_lateness] == [2.0]


def test_failing_job_is_retried_after_backoff_then_dead_lettered(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue(make_job(always_fails, clock=clock))
    burst_worker(backend, clock).run()
    assert backend.counts("work").delayed == 1
    clock.advance(60)
    burst_worker(backend, clock).run()
    assert RAN == ["fail", "fail"]
    [letter] = backend.dead_letters("work")
    assert letter.failure.message == "broken on purpose"
    assert letter.job.attempt == 2


def test_unregistered_task_is_dead_lettered_and_the_worker_carries_on(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    ghost = Job(id=new_job_id(), task="nowhere.ghost_task", queue="work", enqueued_at=clock.time())
    backend.enqueue_many([ghost, make_job(record, "after", clock=clock)])
    burst_worker(backend, clock).run()
    [letter] = backend.dead_letters("work")
    assert "not registered" in letter.failure.message
    assert RAN == ["after"]


def test_a_job_naming_an_unimported_module_is_dead_lettered_without_importing_it(
    backend: MemoryBackend, clock: ManualClock, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"dq_probe_{new_job_id()[:12]}"
    (tmp_path / f"{module}.py").write_text(
        "from dqueue import task\n\n@task(queue='work')\ndef x() -> None:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = Job(id=new_job_id(), task=f"{module}.x", queue="work", enqueued_at=clock.time())
    backend.enqueue_many([probe, make_job(record, "after", clock=clock)])
    burst_worker(backend, clock).run()
    [letter] = backend.dead_letters("work")
    assert letter.failure.exception_type.endswith("TaskNotRegistered")
    assert module not in sys.modules
    assert RAN == ["after"]


def test_task_asking_for_retry_gets_its_delay(backend: MemoryBackend, clock: ManualClock) -> None:
    @task(queue="work", name="tests.worker.asks_retry", max_attempts=3)
    def asks_retry() -> None:
        raise Retry(delay=42)

    backend.enqueue(make_job(asks_retry, clock=clock))
    burst_worker(backend, clock).run()
    clock.advance(41)
    assert backend.reserve("work", worker_id="t", timeout_s=0) == []
    clock.advance(2)
    [job] = backend.reserve("work", worker_id="t", timeout_s=0)
    assert job.attempt == 2


def test_stopping_returns_prefetched_jobs_without_counting_an_attempt(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(stop_worker_then_record, n, clock=clock) for n in range(4)])
    worker = burst_worker(backend, clock)
    worker.prefetch.limit = 4
    CURRENT["worker"] = worker
    worker.run()
    assert RAN == [0]
    waiting = backend.reserve("work", worker_id="t", timeout_s=0, limit=10)
    assert [job.args[0] for job in waiting] == [1, 2, 3]
    assert [job.attempt for job in waiting] == [1, 1, 1]


def test_sigterm_lets_the_running_job_finish_then_the_worker_exits_zero(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(send_sigterm_then_record, n, clock=clock) for n in range(3)])
    worker = burst_worker(backend, clock)
    worker.prefetch.limit = 3
    before = signal.getsignal(signal.SIGTERM)
    assert worker.run() == 0
    assert RAN == [0]
    counts = backend.counts("work")
    assert (counts.ready, counts.in_flight) == (2, 0)
    assert signal.getsignal(signal.SIGTERM) == before


def test_timeout_raises_job_timeout_inside_the_task(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue(make_job(sleep_past_timeout, clock=clock, timeout=0.2, max_attempts=1))
    burst_worker(backend, clock).run()
    assert RAN == ["interrupted"]
    [letter] = backend.dead_letters("work")
    assert letter.failure.exception_type == "dqueue.errors.JobTimeout"
    assert "timed out after 0.2s" in letter.failure.message


def test_timed_out_job_with_attempts_left_is_retried(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue(make_job(sleep_past_timeout, clock=clock, timeout=0.2, max_attempts=2))
    burst_worker(backend, clock).run()
    assert backend.counts("work").delayed == 1


def test_job_after_a_timed_out_job_runs_normally(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue(make_job(sleep_past_timeout, clock=clock, timeout=0.2, max_attempts=1))
    backend.enqueue(make_job(record, "next", clock=clock))
    burst_worker(backend, clock).run()
    assert RAN == ["interrupted", "next"]
    assert backend.counts("work").dead == 1


def test_job_that_swallows_its_timeout_still_counts_as_failed(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue(make_job(swallow_timeout, clock=clock, timeout=0.2, max_attempts=1))
    burst_worker(backend, clock).run()
    assert RAN == ["swallowed"]
    [letter] = backend.dead_letters("work")
    assert letter.failure.exception_type == "dqueue.errors.JobTimeout"


def test_outcome_of_a_job_whose_lease_was_lost_is_not_settled(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    backend = MemoryBackend.from_settings(settings_for(LEASE_SECONDS=10.0), clock=clock)
    BACKENDS["lost"] = (backend, clock)
    backend.enqueue(make_job(expire_own_lease, "lost", clock=clock, max_attempts=3))
    with caplog.at_level(logging.WARNING, logger="dqueue.worker"):
        worker = Worker(
            settings_for(LEASE_SECONDS=10.0), "work", 1, backend=backend, clock=clock, burst=True
        )
        worker.prefetch.limit = 1
        # Recovery put the job back: the worker runs it again (attempt 2) and acks that run.
        worker.run()
    assert RAN == ["ran", "ran"]
    assert caplog.text.count("lease of job") == 1
    assert backend.counts("work").total == 0


class FlakyBackend(MemoryBackend):
    """A real memory store whose first calls fail, as a store that went away would."""

    def __init__(self, *args: Any, reserve_failures: int = 0, settle_failures: int = 0, **kw: Any):
        super().__init__(*args, **kw)
        self.reserve_failures = reserve_failures
        self.settle_failures = settle_failures
        self.settled_batches: list[list[str]] = []

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        if self.reserve_failures:
            self.reserve_failures -= 1
            raise BackendUnavailable("store is down")
        return super().reserve(queue, worker_id=worker_id, timeout_s=timeout_s, limit=limit)

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        if self.settle_failures:
            self.settle_failures -= 1
            raise BackendUnavailable("store is down")
        self.settled_batches.append([outcome.job.id for outcome in outcomes])
        return super().settle(outcomes, worker_id=worker_id)


def test_reserve_errors_are_logged_and_retried_until_the_store_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = FlakyBackend(reserve_failures=3)
    backend.enqueue(make_job(record, "ok"))
    with caplog.at_level(logging.WARNING, logger="dqueue.worker"):
        assert burst_worker(backend).run() == 0
    assert RAN == ["ok"]
    assert caplog.text.count("could not reserve") == 3


def test_outcomes_are_kept_and_settled_once_the_store_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = FlakyBackend(settle_failures=2)
    jobs = [make_job(record, n) for n in range(3)]
    backend.enqueue_many(jobs)
    with caplog.at_level(logging.WARNING, logger="dqueue.worker"):
        burst_worker(backend).run()
    assert sorted(RAN) == [0, 1, 2]
    settled = sorted(job_id for batch in backend.settled_batches for job_id in batch)
    assert settled == sorted(job.id for job in jobs)
    assert "could not settle" in caplog.text
    assert backend.counts("work").total == 0


def test_worker_exits_after_max_jobs_leaving_the_rest(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(record, n, clock=clock) for n in range(5)])
    settings = settings_for(WORKER_MAX_JOBS=2)
    worker = Worker(settings, "work", 1, backend=backend, clock=clock)
    worker.prefetch.limit = 5
    assert worker.run() == 0
    assert RAN == [0, 1]
    assert backend.counts("work").ready == 3


def test_worker_exits_after_max_idle_seconds() -> None:
    backend = MemoryBackend.from_settings(settings_for())
    worker = Worker(settings_for(WORKER_MAX_IDLE=0.2), "work", 1, backend=backend)
    assert worker.run() == 0
    assert worker.processed == 0


def test_worker_exits_when_memory_is_above_the_limit() -> None:
    backend = MemoryBackend.from_settings(settings_for())
    backend.enqueue_many([make_job(record, n) for n in range(3)])
    worker = Worker(settings_for(WORKER_MAX_MEMORY_MB=1), "work", 1, backend=backend)
    assert worker.run() == 0
    assert worker.processed == 1


def test_touch_file_is_touched_after_a_successful_job(tmp_path: Path) -> None:
    pattern = str(tmp_path / "ok.%s")
    backend = MemoryBackend.from_settings(settings_for())
    backend.enqueue(make_job(record, 1))
    burst_worker(backend, settings=settings_for(TOUCH_FILE=pattern)).run()
    assert (tmp_path / "ok.work").exists()


def test_touch_file_is_not_touched_after_a_failure(tmp_path: Path) -> None:
    backend = MemoryBackend.from_settings(settings_for())
    backend.enqueue(make_job(always_fails, max_attempts=1))
    burst_worker(backend, settings=settings_for(TOUCH_FILE=str(tmp_path / "ok.%s"))).run()
    assert not (tmp_path / "ok.work").exists()


class RenewSpy(MemoryBackend):
    """A memory store that tells a waiting task of each lease renewal of the worker."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renewed = threading.Condition()
        self.renewals = 0
        self.lost: list[str] = []

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        lost = super().renew(job_ids, worker_id=worker_id)
        with self.renewed:
            self.renewals += 1
            self.lost += lost
            self.renewed.notify_all()
        return lost

    def next_renewal(self) -> None:
        with self.renewed:
            seen = self.renewals
            assert self.renewed.wait_for(lambda: self.renewals > seen, timeout=30)


@task(queue="work")
def outlive_own_lease(backend_key: str) -> None:
    # Lives five lease-fifths of manual time past its start, waiting for a renewal after each.
    backend, clock = BACKENDS[backend_key]
    for _ in range(5):
        backend.next_renewal()
        clock.advance(backend.options.lease_s * 2 / 3)
    assert backend.recover() == 0  # another worker's recovery finds the lease alive
    RAN.append("ran")


def test_leases_of_a_long_job_are_renewed_so_it_runs_once(clock: ManualClock) -> None:
    # Renewals come every LEASE_SECONDS / 3 of real time; the lease runs on the manual clock.
    backend = RenewSpy.from_settings(settings_for(LEASE_SECONDS=0.3), clock=clock)
    BACKENDS["renewed"] = (backend, clock)
    backend.enqueue(make_job(outlive_own_lease, "renewed", clock=clock, max_attempts=3))
    started = clock.time()
    burst_worker(backend, clock).run()
    assert clock.time() - started > 3 * backend.options.lease_s
    assert RAN == ["ran"]
    assert backend.lost == []
    assert backend.counts("work").total == 0


def test_worker_in_a_thread_serves_jobs_enqueued_while_it_waits() -> None:
    backend = MemoryBackend.from_settings(settings_for())
    worker = Worker(settings_for(), "work", 1, backend=backend)
    thread = threading.Thread(target=worker.run)
    thread.start()
    try:
        backend.enqueue(make_job(record, "late arrival"))
        deadline = time.monotonic() + 30
        while not RAN and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        worker.stop()
        thread.join(30)
    assert RAN == ["late arrival"]
    assert not thread.is_alive()


def test_middleware_hooks_run_around_each_job(backend: MemoryBackend, clock: ManualClock) -> None:
    seen: list[str] = []

    class Spy:
        def process_job(self, job: Job, queue: str, worker_id: str) -> None:
            seen.append(f"job:{queue}:{worker_id}")

        def process_result(self, job: Job, result: Any, duration_s: float) -> None:
            seen.append(f"result:{result}")

    backend.enqueue(make_job(record, 7, clock=clock))
    worker = burst_worker(backend, clock, middleware=[Spy()], worker_id="w-1")
    worker.run()
    assert seen == ["job:work:w-1", "result:7"]


class Recorder(WorkerHooks):
    def __init__(self) -> None:
        self.events: list[str] = []

    def job_started(self, job: Job) -> None:
        self.events.append(f"started {job.args[0]}")

    def job_finished(self, outcome: Outcome) -> None:
        self.events.append(f"finished {outcome.kind.name}")

    def settled(
        self, outcomes: Sequence[Outcome], lost_ids: Collection[str], dropped: Sequence[Outcome]
    ) -> None:
        self.events.append(f"settled {len(outcomes)}")


def test_hooks_see_each_job_start_finish_and_settle(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(record, n, clock=clock) for n in range(2)])
    hook = Recorder()
    burst_worker(backend, clock, hooks=[hook]).run()
    # The first batch is one job; the second, prefetched once the first was fast, the other.
    assert hook.events == [
        "started 0",
        "finished ACK",
        "settled 1",
        "started 1",
        "finished ACK",
        "settled 1",
    ]


def test_a_removed_hook_is_called_no_more(backend: MemoryBackend, clock: ManualClock) -> None:
    backend.enqueue(make_job(record, 1, clock=clock))
    worker = burst_worker(backend, clock)
    kept, removed = Recorder(), Recorder()
    worker.add_hook(kept)
    remove = worker.add_hook(removed)
    remove()
    worker.run()
    assert (kept.events, removed.events) == (["started 1", "finished ACK", "settled 1"], [])


def test_worker_builds_no_process_title_without_setproctitle(
    backend: MemoryBackend, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proctitle, "_setproctitle", None)
    monkeypatch.setattr(proctitle, "_last_title", "before")
    backend.enqueue(make_job(record, 1, clock=clock))
    burst_worker(backend, clock).run()
    assert RAN == [1]
    assert proctitle._last_title == "before"


def test_process_title_names_the_running_task_and_job_but_not_arguments(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    pytest.importorskip("setproctitle")
    job = make_job(title_now, clock=clock)
    backend.enqueue(job)
    burst_worker(backend, clock).run()
    assert [f"dqueue worker work/1 [running {title_now.name}[{job.id}]]"] == RAN
    assert process_title() == "dqueue worker work/1 [idle]"


def test_worker_ids_differ_within_one_process_and_name_host_and_pid() -> None:
    first, second = new_worker_id(), new_worker_id()
    assert first != second
    host, pid, random_part = first.split(":")
    assert pid == str(os.getpid())
    assert host == os.uname().nodename
    assert random_part


def test_prefetch_starts_at_one_and_doubles_while_jobs_are_fast() -> None:
    prefetch = AdaptivePrefetch(32, target_batch_s=0.05)
    assert prefetch.limit == 1
    limits = []
    for _ in range(6):
        prefetch.observe([0.0001] * prefetch.limit)
        limits.append(prefetch.limit)
    assert limits == [2, 4, 8, 16, 32, 32]


def test_prefetch_shrinks_to_one_when_jobs_are_slow() -> None:
    prefetch = AdaptivePrefetch(32, target_batch_s=0.05)
    prefetch.limit = 32
    prefetch.observe([0.5])
    assert prefetch.limit == 1


def test_prefetch_settles_where_a_batch_takes_about_the_target_time() -> None:
    prefetch = AdaptivePrefetch(100, target_batch_s=0.05)
    for _ in range(20):
        prefetch.observe([0.005] * prefetch.limit)
    assert prefetch.limit == 10


def test_fast_jobs_are_reserved_in_growing_batches(
    backend: MemoryBackend, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(record, n, clock=clock) for n in range(200)])
    worker = burst_worker(backend, clock)
    worker.run()
    assert len(RAN) == 200
    assert worker.prefetch.limit > 1


def test_backoff_doubles_up_to_its_cap_and_resets() -> None:
    backoff = Backoff(0.1, 1.0, jitter=0.0)
    delays = [backoff.next_delay() for _ in range(6)]
    assert delays == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0]
    backoff.reset()
    assert backoff.next_delay() == 0.1


def test_backoff_jitter_stays_within_its_fraction() -> None:
    low = Backoff(1.0, 1.0, jitter=0.25, rng=lambda: 0.0).next_delay()
    high = Backoff(1.0, 1.0, jitter=0.25, rng=lambda: 1.0).next_delay()
    assert (low, high) == (0.75, 1.25)


class SettleDuringRenewal(MemoryBackend):
    """A renewal in flight reaches the store only after the worker's settle, and its reply is
    handled before the worker goes on: the order that made a healthy worker log a lost lease."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.renewing = threading.Event()
        self.settled = threading.Event()
        self.renewal: threading.Thread | None = None

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        self.renewing.set()
        assert self.settled.wait(30)
        return super().renew(job_ids, worker_id=worker_id)

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        lost = super().settle(outcomes, worker_id=worker_id)
        self.settled.set()
        if self.renewal is not None:
            self.renewal.join(30)
        return lost


@task(queue="work")
def renew_while_running(backend_key: str) -> None:
    # The lease keeper's renewal starts now and waits at the store's door.
    backend, _ = BACKENDS[backend_key]
    backend.renewal = threading.Thread(target=CURRENT["worker"]._leases.renew_now)
    backend.renewal.start()
    assert backend.renewing.wait(30)
    RAN.append("ran")


def test_a_job_settled_while_its_renewal_is_in_flight_is_not_reported_lost(
    clock: ManualClock, caplog: pytest.LogCaptureFixture
) -> None:
    backend = SettleDuringRenewal.from_settings(settings_for(), clock=clock)
    BACKENDS["race"] = (backend, clock)
    backend.enqueue(make_job(renew_while_running, "race", clock=clock))
    worker = CURRENT["worker"] = burst_worker(backend, clock)

    with caplog.at_level(logging.WARNING, logger="dqueue.worker"):
        worker.run()

    assert RAN == ["ran"]
    assert backend.renewal is not None
    assert not backend.renewal.is_alive()
    assert "lost the lease" not in caplog.text
    assert backend.counts("work").total == 0
