"""Cron across real runners: three pooled ``dqueue runner`` processes on one SQLite file.

Every runner schedules the same entries; each slot must be enqueued once and run once, also
while one runner is killed with SIGKILL half-way through. A middleware in the workers writes a
line per finished run (entry, slot, job id), which the test reads back.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dqueue.testing import wait_for

pytestmark = pytest.mark.slow

TASKS_MODULE = '''
"""Tasks and a middleware for the cron runner test."""

import os

from dqueue import task


@task(queue="cron")
def tick():
    """Runs every second; the middleware records which slot."""


class SlotRecorder:
    """Appends "task entry slot job-id" for every finished cron job (one write: atomic)."""

    def process_result(self, job, result, duration_s):
        cron = job.meta.get("cron")
        if cron is not None:
            line = f"{job.task} {cron['entry']} {cron['slot']} {job.id}\\n"
            fd = os.open(os.environ["CRONTEST_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT)
            try:
                os.write(fd, line.encode())
            finally:
                os.close(fd)
'''

ENTRIES = [
    {"task": "crontasks.tick", "name": "every-second", "schedule": "* * * * * *"},
    {
        "task": "crontasks.tick",
        "name": "guarded",
        "schedule": "*/2 * * * * *",
        "prevent_overlap": True,
    },
]


@pytest.fixture
def project(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A folder with the tasks module, and the environment every runner shares."""
    (tmp_path / "crontasks.py").write_text(textwrap.dedent(TASKS_MODULE))
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("DQUEUE_")},
        "DQUEUE_BACKEND": "dqueue.backends.sqlite.SQLiteBackend",
        "DQUEUE_SQLITE_PATH": str(tmp_path / "queue.sqlite3"),
        "DQUEUE_TASKS": "crontasks",
        "DQUEUE_MIDDLEWARE": json.dumps(["crontasks.SlotRecorder"]),
        "DQUEUE_WORKERS": json.dumps({"cron": 3}),  # one cron worker on each machine
        "DQUEUE_CRON": json.dumps(ENTRIES),
        "DQUEUE_CRON_CATCH_UP": "skip",
        "DQUEUE_LEASE_SECONDS": "3",  # a run cut short by the kill comes back quickly
        "DQUEUE_SHUTDOWN_TIMEOUT": "10",
        "CRONTEST_LOG": str(tmp_path / "runs.log"),
        "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")]),
    }
    return tmp_path, env


@pytest.fixture
def start_runner(
    project: tuple[Path, dict[str, str]],
) -> Iterator[Callable[[int], subprocess.Popen[bytes]]]:
    """Start ``dqueue runner --machine k --of 3``; everything it started is gone afterwards."""
    folder, env = project
    started: list[subprocess.Popen[bytes]] = []

    def start(machine: int) -> subprocess.Popen[bytes]:
        log = (folder / f"runner{machine}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "dqueue", "runner", "--machine", str(machine), "--of", "3"],
            cwd=folder,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in started:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _wait_for_workers_to_exit(folder)


def _wait_for_workers_to_exit(folder: Path) -> None:
    """Workers of a killed runner exit by themselves after their job; make sure they did."""
    pids = {
        int(pid)
        for log in folder.glob("runner*.log")
        for pid in re.findall(r"started worker \S+ \(pid (\d+)\)", log.read_text())
    }
    deadline = time.monotonic() + 15
    for pid in pids:
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    """Whether ``pid`` is still one of our dqueue workers (not a process that reused the pid)."""
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return b"dqueue" in command and b"worker" in command


def _runs(log: Path, task: str = "crontasks.tick") -> list[tuple[str, int, str]]:
    """``(entry, slot, job id)`` of each finished run of ``task``."""
    if not log.exists():
        return []
    rows = []
    for line in log.read_text().splitlines():
        name, entry, slot, job_id = line.split()
        if name == task:
            rows.append((entry, int(slot), job_id))
    return rows


def _slots(rows: list[tuple[str, int, str]], entry: str) -> list[int]:
    return [slot for name, slot, _ in rows if name == entry]


def test_each_slot_runs_once_across_three_runners_even_when_one_is_killed(
    project: tuple[Path, dict[str, str]],
    start_runner: Callable[[int], subprocess.Popen[bytes]],
) -> None:
    folder, _ = project
    log = folder / "runs.log"
    runners = {machine: start_runner(machine) for machine in (1, 2, 3)}

    wait_for(lambda: len(_slots(_runs(log), "every-second")) >= 5, what="the first runs")
    for machine, process in runners.items():
        assert process.poll() is None, (folder / f"runner{machine}.log").read_text()
    runners[2].send_signal(signal.SIGKILL)  # machine 2 dies; its workers exit on their own
    killed_at = time.time()
    runners[2].wait(timeout=10)

    wait_for(
        lambda: len([s for s in _slots(_runs(log), "every-second") if s > killed_at + 2]) >= 6,
        what="runs after the kill",
    )
    before_stop = max(_slots(_runs(log), "every-second"))
    for machine in (1, 3):
        runners[machine].send_signal(signal.SIGTERM)
    for machine in (1, 3):
        assert runners[machine].wait(timeout=60) == 0, (folder / f"runner{machine}.log").read_text()

    rows = _runs(log)
    jobs_of_slot: dict[tuple[str, int], set[str]] = defaultdict(set)
    runs_of_slot: dict[tuple[str, int], int] = defaultdict(int)
    for entry, slot, job_id in rows:
        jobs_of_slot[(entry, slot)].add(job_id)
        runs_of_slot[(entry, slot)] += 1

    # enqueued once: one job per slot, whatever the number of schedulers
    assert all(len(ids) == 1 for ids in jobs_of_slot.values()), jobs_of_slot
    # run once: a second run of the same job is allowed only for a run the kill cut short
    repeated = [key for key, count in runs_of_slot.items() if count > 1]
    assert all(abs(slot - killed_at) < 5 for _, slot in repeated), repeated

    # no slot missing, before, during or after the kill (up to just before the runners stopped)
    seconds = sorted(set(_slots(rows, "every-second")))
    expected = list(range(seconds[0], before_stop - 2))
    assert [s for s in expected if s not in set(seconds)] == []
    assert expected[0] < killed_at < expected[-1]  # the checked span covers the kill

    # the guarded entry ran, on its even seconds, and each slot was claimed once
    guarded = _slots(rows, "guarded")
    assert guarded, "the guarded entry never ran"
    assert all(slot % 2 == 0 for slot in guarded)
    claims = _runs(log, task="dqueue_cron.tasks.claim_slot")
    assert len(claims) == len({slot for _, slot, _ in claims})
    assert set(guarded) <= {slot for _, slot, _ in claims}
