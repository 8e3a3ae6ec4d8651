"""The worker's heartbeat: beats with its current job and counts, forgotten on a clean stop."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest

from dqueue import task
from dqueue.backends.memory import MemoryBackend
from dqueue.backends.workers import WorkerBeat
from dqueue.clock import ManualClock
from dqueue.heartbeat import Heartbeat, registry_for
from dqueue.inline import SynchronousBackend
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from dqueue.testing import FailingBackend, wait_for
from dqueue.worker import Worker

RELEASE = threading.Event()


@task(queue="beats")
def wait_for_release() -> None:
    assert RELEASE.wait(60), "the test never released the job"


@task(queue="beats", max_attempts=1)
def fail_at_once() -> None:
    raise ValueError("broken on purpose")


@pytest.fixture(autouse=True)
def _released() -> None:
    RELEASE.clear()


def _job(fn: Any) -> Job:
    return Job(id=new_job_id(), task=fn.name, queue="beats", max_attempts=1)


def _settings() -> Settings:
    return Settings(MIDDLEWARE=(), HEARTBEAT_SECONDS=0.05)


def _serve(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def _beat_when(
    backend: MemoryBackend, what: str, holds: Callable[[WorkerBeat], bool]
) -> WorkerBeat:
    """The worker's beat once ``holds`` is true of it."""

    def listed() -> WorkerBeat | None:
        beats = backend.workers(["beats"])
        return beats[0] if beats and holds(beats[0]) else None

    return wait_for(listed, what=what, explain=lambda: repr(backend.workers()))


def test_a_worker_beats_its_current_job_then_its_counts_and_is_forgotten_when_it_stops() -> None:
    backend = MemoryBackend()
    backend.enqueue_many([_job(wait_for_release), _job(fail_at_once)])
    worker = Worker(_settings(), "beats", 2, backend=backend)
    thread = _serve(worker)

    running = _beat_when(backend, "a beat with the job", lambda beat: beat.job_id is not None)
    assert (running.name, running.queue) == ("beats/2", "beats")
    assert running.worker_id == worker.worker_id
    assert running.job_task == wait_for_release.name
    assert running.job_started_at is not None
    RELEASE.set()
    done = _beat_when(backend, "a beat with both jobs done", lambda beat: beat.processed == 2)
    assert (done.failed, done.job_id, done.job_task) == (1, None, None)

    worker.stop()
    thread.join(30)
    assert backend.workers() == []


def test_each_beat_keeps_the_worker_for_three_beats() -> None:
    clock = ManualClock()
    backend = MemoryBackend(clock=clock)
    heartbeat = Heartbeat(
        backend, worker_id="w", name="beats/1", queue="beats", every_s=2, on_error=print
    )

    assert heartbeat.beat_now()

    clock.advance(5.9)
    assert [one.worker_id for one in backend.workers()] == ["w"]
    clock.advance(0.2)
    assert backend.workers() == []


def test_a_failed_beat_is_logged_once_counted_and_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = FailingBackend(MemoryBackend())
    errors: list[str] = []
    heartbeat = Heartbeat(
        store, worker_id="w", name="beats/1", queue="beats", every_s=1, on_error=errors.append
    )
    store.fail("beat", times=2)

    with caplog.at_level(logging.INFO, logger="dqueue.worker"):
        assert [heartbeat.beat_now() for _ in range(3)] == [False, False, True]

    assert errors == ["beat", "beat"]
    assert [r.levelno for r in caplog.records] == [logging.WARNING, logging.INFO]
    assert "could not send its heartbeat" in caplog.records[0].getMessage()
    assert [one.worker_id for one in store.backend.workers()] == ["w"]


def test_a_worker_whose_beats_fail_keeps_running_jobs() -> None:
    store = FailingBackend(MemoryBackend())
    store.fail("beat", "forget")
    store.enqueue(_job(fail_at_once))
    worker = Worker(_settings(), "beats", 1, backend=store, burst=True)

    assert worker.run() == 0

    assert store.failures.count("beat") >= 1
    assert store.counts("beats").dead == 1


def test_a_store_without_a_worker_registry_gets_no_beats_and_no_error() -> None:
    heartbeat = Heartbeat(
        registry_for(SynchronousBackend(lambda job: None)),
        worker_id="w",
        name="beats/1",
        queue="beats",
        every_s=1,
        on_error=print,
    )

    heartbeat.start()
    assert heartbeat.registry is None
    assert not heartbeat.beat_now()
    heartbeat.stop()
