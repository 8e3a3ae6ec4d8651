"""The scheduler's two mechanisms on every backend: one job per slot however many schedulers
enqueue it, and the overlap guard. Real stores (an SQLite file, a real Redis server), a
manual clock."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from dqueue.settings import Settings
from dqueue_cron import CronEntry, CronScheduler
from tests.support.backends import BACKEND_FACTORIES
from tests.support.settling import ack


def _marks(name: str) -> list[pytest.MarkDecorator]:
    return [pytest.mark.redis] if "redis" in name else []


@pytest.fixture(
    params=[pytest.param(name, marks=_marks(name)) for name in sorted(BACKEND_FACTORIES)]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Backend, ManualClock]]:
    clock = ManualClock(1_795_737_600.0)  # 2026-11-27 00:00:00 UTC
    settings = Settings().replace(CRON_CATCH_UP="skip", LEASE_SECONDS=600.0)
    backend = BACKEND_FACTORIES[request.param](settings, clock, tmp_path)
    yield backend, clock
    backend.close()


def _schedulers(entries: list[CronEntry], backend: Backend, clock: ManualClock, n: int):
    settings = Settings().replace(CRON_CATCH_UP="skip")
    return [
        CronScheduler(entries, settings=settings, clock=clock, backend=backend, registry=None)
        for _ in range(n)
    ]


def _run_due(backend: Backend, clock: ManualClock, queue: str = "cron") -> list[int]:
    ran = backend.reserve(queue, worker_id="w", timeout_s=0, limit=100)
    for job in ran:
        ack(backend, job, worker_id="w")
    return [job.meta["cron"]["slot"] for job in ran if job.task == "crontest.tick"]


def test_three_schedulers_store_one_job_per_slot(store: tuple[Backend, ManualClock]) -> None:
    backend, clock = store
    entry = CronEntry(name="fast", schedule="*/5 * * * * *", task="crontest.tick")
    schedulers = _schedulers([entry], backend, clock, 3)
    rng = random.Random(3)
    start = clock.time()
    won: Counter[int] = Counter()
    ran: list[int] = []
    while clock.time() < start + 300:
        for scheduler in rng.sample(schedulers, k=rng.randint(1, 3)):
            won.update(o.slot for o in scheduler.tick() if o.result == "enqueued")
        ran += _run_due(backend, clock)
        clock.advance(rng.uniform(0.2, 3.0))
    clock.advance(5)
    ran += _run_due(backend, clock)
    assert set(won.values()) == {1}
    assert sorted(ran) == sorted(won)  # every stored slot ran, once
    assert sorted(ran) == list(range(int(start), int(start) + len(ran) * 5, 5))


def test_the_overlap_guard_skips_slots_while_a_run_is_unfinished(
    store: tuple[Backend, ManualClock],
) -> None:
    backend, clock = store
    entry = CronEntry(name="slow", schedule="* * * * *", task="crontest.tick", prevent_overlap=True)
    schedulers = _schedulers([entry], backend, clock, 2)
    results: list[str] = []
    for scheduler in schedulers:
        results += [o.result for o in scheduler.tick()]
    assert sorted(results) == ["enqueued", "taken"]
    running = backend.reserve("cron", worker_id="w", timeout_s=0, limit=10)
    assert "crontest.tick" in {job.task for job in running}

    clock.advance(60)
    results = [o.result for s in schedulers for o in s.tick()]
    assert sorted(results) == ["skipped", "taken"]  # claimed once, then refused by the guard

    for job in running:
        ack(backend, job, worker_id="w")
    clock.advance(60)
    results = [o.result for s in schedulers for o in s.tick()]
    assert sorted(results) == ["enqueued", "taken"]
