"""Live workers of a real runner on SQLite, as ``dqueue workers`` and ``status`` show them."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dqueue.testing import wait_for

from .core_processes import QUEUE, Workspace, children_of, is_running, job, workspace

pytestmark = pytest.mark.slow


@pytest.fixture
def space(tmp_path: Path) -> Iterator[Workspace]:
    yield from workspace(tmp_path, HEARTBEAT_SECONDS="0.2", WORKERS='{"work": 2}')


def _run(space: Workspace, *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dqueue", *argv],
        cwd=space.root,
        env=space.env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _workers(space: Workspace) -> list[dict[str, Any]]:
    result = _run(space, "workers", "--json")
    assert result.returncode == 0, result.stderr
    listed: list[dict[str, Any]] = json.loads(result.stdout)
    return listed


def test_a_runners_workers_are_listed_with_their_job_and_drop_out_once_killed(
    space: Workspace,
) -> None:
    slow = job("slow", 1, 120)
    space.backend().enqueue(slow)
    runner = space.dqueue("runner")
    pids = wait_for(lambda: len(children_of(runner.pid)) == 2 and children_of(runner.pid))

    listed = wait_for(
        lambda: len(found := _workers(space)) == 2 and any(w["job_id"] for w in found) and found,
        what="both workers listed, one running the slow job",
        explain=space.logs,
    )
    assert sorted(w["name"] for w in listed) == [f"{QUEUE}/1", f"{QUEUE}/2"]
    assert sorted(w["pid"] for w in listed) == sorted(pid for pid, _ in pids)
    busy = next(w for w in listed if w["job_id"])
    assert (busy["job_id"], busy["job_task"]) == (slow.id, slow.task)
    table = _run(space, "workers").stdout
    assert f"{slow.task}[{slow.id}]" in table
    assert "no live worker" not in _run(space, "status").stdout

    # The whole machine goes: the runner and its workers, none of them saying goodbye.
    runner.send_signal(signal.SIGKILL)
    runner.wait(30)
    for pid, _ in pids:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)

    wait_for(lambda: _workers(space) == [], what="the killed workers to drop out")
    assert _run(space, "workers").stdout.strip() == "No live workers."
    space.backend().enqueue(job("note", 2))
    status = _run(space, "status", "--json")
    [row] = [row for row in json.loads(status.stdout) if row["queue"] == QUEUE]
    assert (row["workers"], row["live_workers"], row["no_live_worker"]) == (2, 0, True)
    assert f"queue {QUEUE} has 1 ready job(s) and no live worker" in _run(space, "status").stdout
