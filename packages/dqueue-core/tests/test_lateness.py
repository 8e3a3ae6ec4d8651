"""Lateness samples: what stores keep of each run's lateness, and the windows status reads."""

from __future__ import annotations

import threading
import time

import pytest

from dqueue import task
from dqueue.backends.base import Outcome
from dqueue.backends.lateness import LatenessSample, window
from dqueue.backends.memory import MemoryBackend
from dqueue.hooks import WorkerHooks
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from dqueue.worker import Worker


@task(queue="paused")
def noop() -> None:
    return None


def test_a_sample_reads_back_what_it_encodes() -> None:
    sample = LatenessSample(at=1_764_230_400.125, seconds=0.25)
    assert LatenessSample.decode(sample.encode()) == sample
    assert LatenessSample.decode(sample.encode().encode()) == sample


def test_a_sample_is_kept_to_the_microsecond_and_its_time_to_the_millisecond() -> None:
    sample = LatenessSample(at=1_764_230_400.1254, seconds=0.1 + 0.2)

    assert sample.encode() == "0.300000@1764230400.125"
    assert LatenessSample.decode(sample.encode()) == (1_764_230_400.125, 0.3)


@pytest.mark.parametrize("stored", [0.25, "0.25", b"0.25"])
def test_a_sample_stored_without_its_time_is_older_than_any_window(stored: object) -> None:
    sample = LatenessSample.decode(stored)
    assert sample == LatenessSample(at=0.0, seconds=0.25)
    assert window([sample], now=1_764_230_400.0, seconds=3600) == []


@pytest.mark.parametrize("stored", [None, True, [1, 2], "late"])
def test_anything_else_is_not_a_sample(stored: object) -> None:
    with pytest.raises(ValueError):
        LatenessSample.decode(stored)


def test_a_window_keeps_the_runs_that_started_within_it() -> None:
    now = 10_000.0
    samples = [
        LatenessSample(at=now - 3601, seconds=40.0),
        LatenessSample(at=now - 600, seconds=2.0),
        LatenessSample(at=now - 10, seconds=0.5),
    ]
    assert window(samples, now=now, seconds=300) == [0.5]
    assert window(samples, now=now, seconds=3600) == [2.0, 0.5]


def test_a_pause_is_not_counted_as_lateness() -> None:
    backend = MemoryBackend()
    backend.pause("paused", time.time() + 86400)
    an_hour_ago = time.time() - 3600
    backend.enqueue(Job(id=new_job_id(), task=noop.name, queue="paused", run_after=an_hour_ago))
    waits = threading.Semaphore(0)

    class Resume(WorkerHooks):
        def waiting(self) -> None:
            waits.release()

        def job_finished(self, outcome: Outcome) -> None:
            worker.stop()

    settings = Settings(MIDDLEWARE=())
    worker = Worker(settings, "paused", backend=backend, hooks=[Resume()])
    thread = threading.Thread(target=worker.run)
    thread.start()
    for _ in range(2):  # the second wait comes after a reserve that found the queue paused
        assert waits.acquire(timeout=60)
    backend.resume("paused")
    thread.join(timeout=60)

    [sample] = backend.counts("paused").recent_lateness
    assert sample.seconds < 1800  # counted from the resume, not from an hour ago
