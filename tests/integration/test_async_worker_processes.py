"""Worker processes with ``--async-concurrency`` on SQLite, for real: SIGTERM and a stuck loop."""

from __future__ import annotations

import dataclasses
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dqueue.job import Job
from dqueue.testing import wait_for

from .core_processes import QUEUE, Workspace, job, workspace

pytestmark = pytest.mark.slow

ASYNC_TASKS = '''
"""Async tasks of these tests; each event is a row in the effects file (coretasks.record)."""

import asyncio
import time

from coretasks import record
from dqueue import task


@task(queue="work", max_attempts=3)
async def slow_async(n, seconds):
    record("async-start", n)
    await asyncio.sleep(seconds)
    record("async-end", n)


@task(queue="work", max_attempts=1, timeout=0.5)
async def blocks_the_loop(n):
    record("blocker-start", n)
    time.sleep(120)  # no await: the cancellation of its timeout never reaches it
'''


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Workspace]:
    (tmp_path / "asynctasks.py").write_text(ASYNC_TASKS)
    yield from workspace(tmp_path, LEASE_SECONDS="1.5", TIMEOUT_GRACE="0.5")


def _worker(*argv: str) -> list[str]:
    return ["--tasks", "asynctasks", "worker", QUEUE, "--async-concurrency", "8", *argv]


def async_job(task: str, *args: Any, **fields: Any) -> Job:
    """A job of ``asynctasks.<task>``, built by name like the core's."""
    return dataclasses.replace(job(task, *args, **fields), task=f"asynctasks.{task}")


def test_sigterm_lets_every_async_job_in_flight_finish_and_settles_it(space: Workspace) -> None:
    backend = space.backend()
    backend.enqueue_many([async_job("slow_async", n, 5.0) for n in range(5)])
    worker = space.dqueue(*_worker())
    wait_for(lambda: len(space.events("async-start")) == 5, what="five jobs in flight at once")
    assert space.events("async-end") == []  # all five started before any ended
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    assert sorted(n for _, n, _ in space.events("async-end")) == [0, 1, 2, 3, 4]
    counts = backend.counts(QUEUE)
    assert (counts.total, counts.dead) == (0, 0)


def test_an_async_job_that_blocks_the_loop_is_settled_and_its_worker_exits_70(
    space: Workspace,
) -> None:
    backend = space.backend()
    backend.enqueue(async_job("blocks_the_loop", 1, max_attempts=1, timeout=0.5))
    worker = space.dqueue(*_worker())
    assert worker.wait(120) == 70
    [letter] = backend.dead_letters(QUEUE)
    assert letter.failure.exception_type == "dqueue.errors.JobTimeout"
    assert "worker killed" in letter.failure.message
