"""Helpers of the core process tests: a tasks module, its effects file, and processes to start.

The tasks write one row per event into an effects SQLite file of their own (separate from the
queue's), with the pid of the worker that ran them, so a test can count what really happened.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dqueue.backends.sqlite import SQLiteBackend
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings

QUEUE = "work"
MODULE = "coretasks"

TASKS_SOURCE = '''
"""Tasks of the core process tests; each event is a row in the effects file."""

import os
import signal
import sqlite3
import time

from dqueue import task
from dqueue.errors import JobTimeout


def record(kind, n):
    conn = sqlite3.connect(os.environ["CORETEST_EFFECTS"], timeout=60, isolation_level=None)
    try:
        conn.execute("INSERT INTO events VALUES (?, ?, ?)", (kind, n, os.getpid()))
    finally:
        conn.close()


def seen(kind, n):
    conn = sqlite3.connect(os.environ["CORETEST_EFFECTS"], timeout=60)
    try:
        return conn.execute(
            "SELECT count(*) FROM events WHERE kind = ? AND n = ?", (kind, n)
        ).fetchone()[0]
    finally:
        conn.close()


@task(queue="work", max_attempts=3)
def note(n):
    record("note", n)


@task(queue="work", max_attempts=3)
def slow(n, seconds):
    record("slow-start", n)
    time.sleep(seconds)
    record("slow-end", n)


@task(queue="work", max_attempts=3)
def hangs_first_time(n):
    if not seen("hang-start", n):
        record("hang-start", n)
        time.sleep(120)
    record("hang-done", n)


@task(queue="work", max_attempts=3, sigkill_on_stop=True)
def killable_first_time(n):
    if not seen("killable-start", n):
        record("killable-start", n)
        time.sleep(120)
    record("killable-done", n)


@task(queue="work", max_attempts=2)
def kills_its_worker(n):
    record("kill", n)
    os.kill(os.getpid(), signal.SIGKILL)


@task(queue="work", max_attempts=1, timeout=0.5)
def overruns(n):
    record("overrun-start", n)
    try:
        time.sleep(60)
    except JobTimeout:
        record("overrun-interrupted", n)
        raise


@task(queue="work", max_attempts=1, timeout=0.5)
def ignores_its_timeout(n):
    record("stubborn-start", n)
    while True:
        try:
            time.sleep(60)
        except JobTimeout:
            record("stubborn-swallowed", n)
'''


@dataclass
class Workspace:
    """A directory with the tasks module, the queue's SQLite file and the effects file."""

    root: Path
    settings: dict[str, str] = field(default_factory=dict)
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def database(self) -> Path:
        return self.root / "queue.sqlite3"

    @property
    def effects(self) -> Path:
        return self.root / "effects.sqlite3"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("DQUEUE_")}
        env.update(
            {
                "DQUEUE_BACKEND": "dqueue.backends.sqlite.SQLiteBackend",
                "DQUEUE_SQLITE_PATH": str(self.database),
                "DQUEUE_TASKS": MODULE,
                "DQUEUE_MIDDLEWARE": "[]",
                "DQUEUE_RESTART_BACKOFF_MAX": "1",
                "DQUEUE_POLL_INTERVAL": "0.02",
                "CORETEST_EFFECTS": str(self.effects),
                "PYTHONPATH": os.pathsep.join([str(self.root), *sys.path]),
            }
        )
        env.update(self.settings)
        return env

    def backend(self) -> SQLiteBackend:
        """An in-test view of the same store, with the same settings as the processes."""
        values: dict[str, Any] = {"SQLITE_PATH": str(self.database)}
        lease = self.settings.get("DQUEUE_LEASE_SECONDS")
        if lease:
            values["LEASE_SECONDS"] = float(lease)
        return SQLiteBackend.from_settings(Settings(**values))

    def dqueue(self, *argv: str) -> subprocess.Popen[bytes]:
        """Start ``python -m dqueue *argv`` here; its output goes to ``<root>/process-N.log``."""
        log = (self.root / f"process-{len(self.processes)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "dqueue", *argv],
            cwd=self.root,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.processes.append(process)
        return process

    def logs(self) -> str:
        return "\n".join(path.read_text() for path in sorted(self.root.glob("process-*.log")))

    def create_effects(self) -> None:
        """Create the effects file, in WAL mode, before any worker writes to it.

        Two workers switching a new file to WAL at once get "database is locked" at once
        (SQLite skips the busy handler there), and the task that got it would be retried.
        """
        conn = sqlite3.connect(self.effects, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("CREATE TABLE events (kind TEXT, n INTEGER, pid INTEGER)")
        finally:
            conn.close()

    def events(self, kind: str | None = None) -> list[tuple[str, int, int]]:
        conn = sqlite3.connect(self.effects, timeout=60)
        try:
            query = "SELECT kind, n, pid FROM events"
            rows = conn.execute(
                query + (" WHERE kind = ?" if kind else ""), (kind,) if kind else ()
            )
            return [tuple(row) for row in rows]
        finally:
            conn.close()

    def cleanup(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for pid in worker_pids_under(self.root):
            os.kill(pid, signal.SIGKILL)


def workspace(root: Path, **settings: str) -> Iterator[Workspace]:
    """A fresh workspace (for a fixture); its processes are stopped afterwards."""
    (root / f"{MODULE}.py").write_text(TASKS_SOURCE)
    space = Workspace(root, {f"DQUEUE_{k}": v for k, v in settings.items()})
    space.create_effects()
    try:
        yield space
    finally:
        space.cleanup()


def job(task: str, *args: Any, **fields: Any) -> Job:
    """A job of ``coretasks.<task>`` (built by name: the test process needn't import it)."""
    defaults: dict[str, Any] = {"max_attempts": 3}
    defaults.update(fields)
    return Job(
        id=new_job_id(),
        task=f"{MODULE}.{task}",
        queue=QUEUE,
        args=args,
        enqueued_at=time.time(),
        **defaults,
    )


def _stat(pid: int) -> tuple[int, str] | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    parent = int(stat.rsplit(")", 1)[1].split()[1])
    return parent, cmdline


def children_of(pid: int) -> list[tuple[int, str]]:
    """The child processes of ``pid`` with their command lines (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            info = _stat(int(entry.name))
            if info is not None and info[0] == pid:
                found.append((int(entry.name), info[1]))
    return found


def worker_pids_under(root: Path) -> list[int]:
    """Worker processes still running from ``root`` (left behind by a killed runner)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry.name}/cwd")
        except OSError:
            continue
        info = _stat(int(entry.name))
        if cwd == str(root) and info is not None and "dqueue worker" in info[1]:
            pids.append(int(entry.name))
    return pids


def exactly_once(events: Sequence[tuple[str, int, int]], count: int) -> bool:
    numbers = sorted(n for _, n, _ in events)
    return numbers == list(range(count))


def is_running(pid: int) -> bool:
    """Whether ``pid`` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"
