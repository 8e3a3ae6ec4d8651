"""Worker processes on SQLite, for real: crashes, kill -9, SIGTERM, bad payloads, timeouts."""

from __future__ import annotations

import dataclasses
import os
import signal
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.backends.sqlite_schema import READY
from dqueue.testing import wait_for
from tests.support.settling import release

from .core_processes import QUEUE, Workspace, job, workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Workspace]:
    yield from workspace(tmp_path, LEASE_SECONDS="1.5", TIMEOUT_GRACE="0.5")


def test_kill_9_mid_job_runs_the_job_again_after_its_lease_with_the_attempt_counted(
    space: Workspace,
) -> None:
    backend = space.backend()
    hanging = job("hangs_first_time", 1, result_ttl=600.0)
    backend.enqueue(hanging)
    first = space.dqueue("worker", QUEUE)
    [(_, _, pid)] = wait_for(lambda: space.events("hang-start"), what="the job to start")
    assert pid == first.pid
    os.kill(first.pid, signal.SIGKILL)
    first.wait(30)
    second = space.dqueue("worker", QUEUE)
    [(_, _, runner_pid)] = wait_for(lambda: space.events("hang-done"), what="the job to rerun")
    assert runner_pid == second.pid
    record = wait_for(lambda: backend.result(hanging.id), what="the result")
    wait_for(lambda: backend.result(hanging.id).status.value == "succeeded", what="success")
    assert backend.result(hanging.id).attempt == 2
    assert record.job_id == hanging.id


def test_a_task_that_always_kills_its_worker_ends_in_the_dead_letters(
    space: Workspace,
) -> None:
    backend = space.backend()
    backend.enqueue_many([job("kills_its_worker", 1, max_attempts=2), job("note", 2)])
    runner = space.dqueue("runner")
    wait_for(lambda: backend.counts(QUEUE).dead == 1, timeout=90, what="a dead letter")
    [letter] = backend.dead_letters(QUEUE)
    assert letter.job.task == "coretasks.kills_its_worker"
    assert "renewing its lease" in letter.failure.message
    kills = space.events("kill")
    assert len(kills) == 2
    assert len({pid for _, _, pid in kills}) == 2  # each run killed a different worker
    # The runner replaced the killed workers, and the other job ran.
    wait_for(lambda: space.events("note"), what="the job after the crashing one")
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(60) == 0


def test_sigterm_finishes_the_running_job_and_returns_prefetched_ones(space: Workspace) -> None:
    backend = space.backend()
    # Fast jobs first, so that the worker's prefetch grows past one job.
    backend.enqueue_many([job("note", n) for n in range(150)])
    worker = space.dqueue("worker", QUEUE, "--log-level", "INFO")
    wait_for(lambda: len(space.events("note")) == 150, what="the first notes to run")
    # Then the slow job heads the next batch (highest priority), so the jobs reserved with it
    # wait behind it however the batch size came out on a loaded machine.
    slow_first = [job("slow", 1000, 3.0, priority=10)]
    backend.enqueue_many(slow_first + [job("note", n) for n in range(150, 300)])
    wait_for(lambda: space.events("slow-start"), what="the slow job to start")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 0
    assert len(space.events("slow-end")) == 1
    assert "returns" in space.logs()
    waiting = backend.reserve(QUEUE, worker_id="inspector", timeout_s=0, limit=300)
    assert waiting, "the worker returned no job"
    assert {j.attempt for j in waiting} == {1}  # reserved here once: the release didn't count
    release(backend, waiting, worker_id="inspector")
    finisher = space.dqueue("worker", QUEUE, "--burst")
    assert finisher.wait(120) == 0
    notes = sorted(n for _, n, _ in space.events("note"))
    assert notes == list(range(300))


def test_sigterm_during_a_sigkill_on_stop_job_stops_at_once_and_the_lease_brings_it_back(
    space: Workspace,
) -> None:
    backend = space.backend()
    backend.enqueue(job("killable_first_time", 1, sigkill_on_stop=True))
    first = space.dqueue("worker", QUEUE)
    wait_for(lambda: space.events("killable-start"), what="the job to start")
    first.send_signal(signal.SIGTERM)
    assert first.wait(60) == 128 + signal.SIGTERM
    assert space.events("killable-done") == []
    space.dqueue("worker", QUEUE)
    wait_for(lambda: space.events("killable-done"), what="the job to run again")


def test_a_second_sigterm_stops_a_worker_at_once(space: Workspace) -> None:
    backend = space.backend()
    backend.enqueue(job("hangs_first_time", 1))
    worker = space.dqueue("worker", QUEUE, "--log-level", "INFO")
    wait_for(lambda: space.events("hang-start"), what="the job to start")
    worker.send_signal(signal.SIGTERM)
    # Signals sent back to back may merge into one: wait until the first was handled.
    wait_for(lambda: "stopping after the running job" in space.logs(), what="the first stop")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(60) == 128 + signal.SIGTERM
    space.dqueue("worker", QUEUE)
    wait_for(lambda: space.events("hang-done"), what="the job to run again after its lease")


def test_a_corrupt_payload_and_an_unregistered_task_are_dead_lettered_and_work_goes_on(
    space: Workspace,
) -> None:
    backend = space.backend()
    backend.enqueue(job("note", 1))
    conn = sqlite3.connect(space.database)
    with conn:
        conn.execute(
            "INSERT INTO jobs (id, queue, state, priority, due_at, attempt, payload)"
            " VALUES ('corrupt-row', ?, ?, 0, 0, 0, '{this is not json')",
            (QUEUE, READY),
        )
    conn.close()
    backend.enqueue_many([job("no_such_task", 2, max_attempts=5), job("note", 3)])
    worker = space.dqueue("worker", QUEUE, "--burst")
    assert worker.wait(120) == 0
    assert sorted(n for _, n, _ in space.events("note")) == [1, 3]
    letters = {letter.job.task: letter for letter in backend.dead_letters(QUEUE)}
    assert letters["coretasks.no_such_task"].failure.exception_type.endswith("TaskNotRegistered")
    assert letters["coretasks.no_such_task"].failure.attempt == 1  # dead at once, not retried
    [corrupt] = [letter for letter in letters.values() if letter.raw is not None]
    assert corrupt.raw == "{this is not json"
    assert "not JSON" in corrupt.failure.message


def test_a_task_name_from_a_payload_makes_the_worker_import_nothing(space: Workspace) -> None:
    # The probe module sits in the worker's directory (on its path, like `python -m`) and
    # leaves a file behind if anything imports it; `this` prints the Zen of Python.
    (space.root / "payload_probe.py").write_text("open('probe-imported', 'w').close()\n")
    backend = space.backend()
    names = ["this.x", "payload_probe.x"]
    backend.enqueue_many([dataclasses.replace(job("note", 1), task=name) for name in names])
    backend.enqueue(job("note", 2))
    worker = space.dqueue("worker", QUEUE, "--burst")
    assert worker.wait(120) == 0
    assert [n for _, n, _ in space.events("note")] == [2]
    letters = {letter.job.task: letter for letter in backend.dead_letters(QUEUE)}
    assert sorted(letters) == sorted(names)
    for letter in letters.values():
        assert letter.failure.exception_type.endswith("TaskNotRegistered")
    assert not (space.root / "probe-imported").exists()
    assert "Beautiful is better than ugly" not in space.logs()


def test_a_task_past_its_timeout_gets_job_timeout_inside_it(space: Workspace) -> None:
    backend = space.backend()
    backend.enqueue_many([job("overruns", 1, max_attempts=1, timeout=0.5), job("note", 2)])
    worker = space.dqueue("worker", QUEUE, "--burst")
    assert worker.wait(120) == 0
    assert len(space.events("overrun-interrupted")) == 1
    [letter] = backend.dead_letters(QUEUE)
    assert letter.failure.exception_type == "dqueue.errors.JobTimeout"
    assert [n for _, n, _ in space.events("note")] == [2]


def test_a_task_that_ignores_its_timeout_is_settled_and_its_worker_replaced(
    space: Workspace,
) -> None:
    backend = space.backend()
    backend.enqueue(job("ignores_its_timeout", 1, max_attempts=1, timeout=0.5))
    runner = space.dqueue("runner")
    [(_, _, stuck_pid)] = wait_for(lambda: space.events("stubborn-start"), what="the job")
    wait_for(lambda: backend.counts(QUEUE).dead == 1, what="the job to be dead-lettered")
    [letter] = backend.dead_letters(QUEUE)
    assert "worker killed" in letter.failure.message
    assert space.events("stubborn-swallowed")
    backend.enqueue(job("note", 2))
    [(_, _, next_pid)] = wait_for(lambda: space.events("note"), what="the next job")
    assert next_pid != stuck_pid
    assert "exit code 70" in space.logs()
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(60) == 0
