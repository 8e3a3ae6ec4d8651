"""``dqueue runner`` processes on SQLite: draining, restarting workers, splitting a pool."""

from __future__ import annotations

import os
import re
import signal
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.testing import wait_for

from .core_processes import (
    QUEUE,
    Workspace,
    children_of,
    is_running,
    job,
    workspace,
)

pytestmark = pytest.mark.slow


def slot_of(cmdline: str) -> str:
    """``queue/number`` from ``python -m dqueue worker work 1`` or its title ``work/1 [idle]``."""
    match = re.search(r"worker (\w+)[/ ](\d+)", cmdline)
    assert match, cmdline
    return f"{match[1]}/{match[2]}"


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Workspace]:
    yield from workspace(tmp_path, LEASE_SECONDS="5", WORKERS='{"work": 2}')


def test_a_runner_with_two_workers_runs_2000_jobs_each_exactly_once(space: Workspace) -> None:
    backend = space.backend()
    backend.enqueue_many([job("note", n) for n in range(2000)])
    runner = space.dqueue("runner")
    wait_for(lambda: len(space.events("note")) >= 2000, timeout=120, what="2000 runs")
    wait_for(lambda: backend.counts(QUEUE).total == 0, what="the queue to drain")
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(60) == 0
    runs = Counter(n for _, n, _ in space.events("note"))
    assert sorted(runs) == list(range(2000))
    assert set(runs.values()) == {1}
    assert len({pid for _, _, pid in space.events("note")}) == 2  # both workers took part
    assert backend.counts(QUEUE).dead == 0


def test_the_runner_restarts_a_worker_that_dies(space: Workspace) -> None:
    runner = space.dqueue("runner")
    workers = wait_for(lambda: len(children_of(runner.pid)) == 2 and children_of(runner.pid))
    victim = workers[0][0]
    os.kill(victim, signal.SIGKILL)
    wait_for(
        lambda: (
            len(children_of(runner.pid)) == 2
            and victim not in {pid for pid, _ in children_of(runner.pid)}
        ),
        what="a replacement worker",
    )
    space.backend().enqueue_many([job("note", n) for n in range(20)])
    wait_for(lambda: len(space.events("note")) == 20, what="jobs after the restart")
    assert "signal SIGKILL" in space.logs()
    runner.send_signal(signal.SIGTERM)
    assert runner.wait(60) == 0


def test_two_runners_split_the_pool_one_worker_each(space: Workspace) -> None:
    first = space.dqueue("runner", "--machine", "1", "--of", "2")
    second = space.dqueue("runner", "--machine", "2", "--of", "2")
    wait_for(lambda: len(children_of(first.pid)) == 1, what="machine 1's worker")
    wait_for(lambda: len(children_of(second.pid)) == 1, what="machine 2's worker")
    [(_, first_worker)] = children_of(first.pid)
    [(_, second_worker)] = children_of(second.pid)
    # Slot j (0-based, queues by name) runs on machine (j mod 2) + 1.
    assert slot_of(first_worker) == "work/1"
    assert slot_of(second_worker) == "work/2"
    space.backend().enqueue_many([job("note", n) for n in range(200)])
    wait_for(lambda: len(space.events("note")) == 200, what="the jobs to run")
    for runner in (first, second):
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(60) == 0
    assert sorted(n for _, n, _ in space.events("note")) == list(range(200))


def test_workers_stop_by_themselves_when_their_runner_is_killed(space: Workspace) -> None:
    runner = space.dqueue("runner")
    workers = wait_for(lambda: len(children_of(runner.pid)) == 2 and children_of(runner.pid))
    runner.kill()
    runner.wait(30)
    for pid, _ in workers:
        wait_for(lambda pid=pid: not is_running(pid), what=f"orphaned worker {pid} to exit")
