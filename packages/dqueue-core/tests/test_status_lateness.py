"""Lateness in status: percentiles of the runs of the last 5 minutes and of the last hour."""

from __future__ import annotations

import time

from dqueue import configure, get_backend, ops
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.job import Job, new_job_id
from dqueue.settings import get_settings
from dqueue.status import render_status

MEMORY = "dqueue.backends.memory.MemoryBackend"


def run_late(queue: str, *, started_ago_s: float, late_s: float) -> None:
    """Store the outcome of a run that started ``started_ago_s`` ago, ``late_s`` late."""
    backend = get_backend(queue)
    started = time.time() - started_ago_s
    job = Job(id=new_job_id(), task="app.tasks.x", queue=queue, run_after=started - late_s)
    backend.enqueue(job)
    [reserved] = backend.reserve(queue, worker_id="w", timeout_s=0)
    backend.settle(
        [Outcome(job=reserved, kind=OutcomeKind.ACK, started_at=started, finished_at=started)],
        worker_id="w",
    )


def test_status_shows_the_lateness_of_the_last_five_minutes_and_of_the_last_hour() -> None:
    configure(BACKEND=MEMORY)
    run_late("late", started_ago_s=2 * 3600, late_s=40.0)  # a pause yesterday: in neither
    run_late("late", started_ago_s=600, late_s=2.0)
    run_late("late", started_ago_s=60, late_s=0.5)

    (status,) = ops.queue_status(get_settings(), ["late"])

    assert (status.lateness_p99_ms, status.lateness_samples) == (500.0, 1)
    assert (status.lateness_1h_p99_ms, status.lateness_1h_samples) == (2000.0, 2)
    assert "500/500" in render_status([status])
    assert "500/2000" in render_status([status])


def test_status_shows_no_lateness_when_nothing_ran_recently() -> None:
    configure(BACKEND=MEMORY)
    run_late("quiet", started_ago_s=2 * 3600, late_s=46.659)

    (status,) = ops.queue_status(get_settings(), ["quiet"])

    assert (status.lateness_p99_ms, status.lateness_1h_p99_ms) == (None, None)
    assert status.to_dict()["lateness_1h_samples"] == 0
