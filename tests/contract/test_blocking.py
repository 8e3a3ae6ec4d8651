"""Contract: a blocking reserve wakes for new jobs and for delayed jobs that become due.

These tests wait for real; they assert what came back, never how long it took.
"""

from __future__ import annotations

import threading
import time

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from dqueue.job import Job
from dqueue.testing import wait_for
from tests.contract.conftest import MakeJob
from tests.contract.helpers import WORKER, require, running

GENEROUS_S = 20.0


def test_blocking_reserve_returns_a_job_enqueued_by_another_thread(
    real_backend: Backend, make_job: MakeJob
) -> None:
    job = make_job()
    jobs: list[Job] = []

    def reserve() -> None:
        jobs.extend(real_backend.reserve("default", worker_id=WORKER, timeout_s=GENEROUS_S))

    consumer = threading.Thread(target=reserve)
    consumer.start()
    # Enqueue once the reserve is under way (whether it has looked yet or not, it must return
    # the job: the assertion holds either way).
    wait_for(lambda: running(consumer, type(real_backend).reserve), what="the reserve to start")
    real_backend.enqueue(job)
    consumer.join(GENEROUS_S)

    assert [reserved.id for reserved in jobs] == [job.id]


def test_blocking_reserve_returns_a_delayed_job_once_it_is_due(
    real_backend: Backend, make_job: MakeJob
) -> None:
    require(real_backend, "supports_delay")
    due = time.time() + 0.2
    job = make_job(enqueued_at=time.time(), run_after=due)
    real_backend.enqueue(job)

    jobs = real_backend.reserve("default", worker_id=WORKER, timeout_s=GENEROUS_S)

    assert [reserved.id for reserved in jobs] == [job.id]
    assert time.time() >= due  # never handed out early


def test_blocking_reserve_gives_up_empty_after_its_timeout(real_backend: Backend) -> None:
    assert real_backend.reserve("default", worker_id=WORKER, timeout_s=0.05) == []


def test_reserve_without_timeout_does_not_wait_for_a_manual_clock(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend.enqueue(make_job(run_after=clock.time() + 3600))

    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []
