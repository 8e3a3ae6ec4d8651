"""Chaos: every kind of poison written into the store while real workers drain it.

Two worker processes serve a SQLite or Redis store (an in-process worker thread serves the
memory store, which other processes can't see) while the test enqueues healthy jobs and writes
each kind of hostile payload straight into the store between them, so that poison lands in the
workers' batches. Every healthy job runs as the backend promises (at-least-once: all of them;
at-most-once: none twice), every poison ends in the dead letters, and nothing is left behind.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.backends import load_backend
from dqueue.backends.base import Backend
from dqueue.backends.memory import MemoryBackend
from dqueue.loading import import_task_modules
from dqueue.settings import Settings
from dqueue.testing import wait_for
from dqueue.worker import Worker
from tests.support.backends import UNAVAILABLE_BACKENDS
from tests.support.poison import POISON, inject

from .core_processes import MODULE, QUEUE, Workspace, job, workspace

pytestmark = pytest.mark.slow

_HEALTHY = 160
_BACKENDS = {
    "memory": "dqueue.backends.memory.MemoryBackend",
    "sqlite": "dqueue.backends.sqlite.SQLiteBackend",
    "redis": "dqueue_redis.RedisBackend",
    "reliable_redis": "dqueue_redis.ReliableRedisBackend",
}


def _unknown_task(job_id: str, queue: str) -> bytes:
    """A valid envelope of a task no worker knows: the worker, not the store, refuses it."""
    envelope = {"v": 1, "id": job_id, "task": "this.x", "queue": queue, "max_attempts": 3}
    return json.dumps(envelope).encode()


_KINDS = {**{kind: POISON[kind] for kind in sorted(POISON)}, "unknown-task": _unknown_task}


@pytest.fixture(params=sorted(_BACKENDS))
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Workspace]]:
    name = str(request.param)
    if name in UNAVAILABLE_BACKENDS:
        pytest.skip(UNAVAILABLE_BACKENDS[name])
    settings = {"BACKEND": _BACKENDS[name], "LEASE_SECONDS": "3", "PREFETCH": "8"}
    if "redis" in name:
        from tests.support.redis_server import shared_server, unique_prefix

        settings |= {"REDIS_URL": shared_server().url, "REDIS_PREFIX": unique_prefix()}
    yield from ((name, space) for space in workspace(tmp_path, **settings))


def _backend(space: Workspace) -> Backend:
    """The store the workers use, built with their settings."""
    env = space.settings
    settings = Settings(SQLITE_PATH=str(space.database), LEASE_SECONDS=3.0)
    if "DQUEUE_REDIS_URL" in env:
        settings = settings.replace(
            REDIS_URL=env["DQUEUE_REDIS_URL"], REDIS_PREFIX=env["DQUEUE_REDIS_PREFIX"]
        )
    return load_backend(env["DQUEUE_BACKEND"], settings)


def _worker_thread(
    backend: Backend, space: Workspace, monkeypatch: pytest.MonkeyPatch
) -> tuple[Worker, threading.Thread]:
    """A worker serving the memory store in a thread of this process."""
    monkeypatch.setenv("CORETEST_EFFECTS", str(space.effects))
    monkeypatch.syspath_prepend(str(space.root))
    monkeypatch.delitem(sys.modules, MODULE, raising=False)
    import_task_modules([MODULE])  # what `dqueue worker` does at start: workers import nothing
    settings = Settings(TASKS=(MODULE,), MIDDLEWARE=(), LEASE_SECONDS=3.0, PREFETCH=8)
    worker = Worker(settings, QUEUE, 1, backend=backend)
    thread = threading.Thread(target=worker.run, name="chaos-worker", daemon=True)
    thread.start()
    return worker, thread


def test_poison_written_while_workers_run_is_buried_and_every_healthy_job_runs(
    store: tuple[str, Workspace], monkeypatch: pytest.MonkeyPatch
) -> None:
    name, space = store
    backend = _backend(space)
    in_process = isinstance(backend, MemoryBackend)
    if in_process:
        worker, thread = _worker_thread(backend, space, monkeypatch)
    else:
        space.dqueue("worker", QUEUE)
        space.dqueue("worker", QUEUE)
    per_kind = _HEALTHY // len(_KINDS)
    number = 0
    try:
        for index, (kind, payload) in enumerate(_KINDS.items()):
            backend.enqueue_many([job("note", n) for n in range(number, number + per_kind)])
            number += per_kind
            job_id = f"poison-{index}-{kind}"
            inject(backend, QUEUE, job_id, payload(job_id, QUEUE))
        backend.enqueue_many([job("note", n) for n in range(number, _HEALTHY)])

        def settled() -> bool:
            # At-most-once, a job counts as gone once handed out: also wait for it to run.
            counts = backend.counts(QUEUE)
            done = {n for _, n, _ in space.events("note")}
            return counts.total == 0 and counts.dead == len(_KINDS) and len(done) == _HEALTHY

        wait_for(settled, timeout=180, what="every job settled", explain=space.logs)
    finally:
        if in_process:
            worker.stop()
            thread.join(30)

    ran = sorted(n for _, n, _ in space.events("note"))
    assert set(ran) == set(range(_HEALTHY)), f"lost: {set(range(_HEALTHY)) - set(ran)}"
    if name == "redis":  # at-most-once
        assert len(ran) == len(set(ran)), "a job ran twice"
    letters = backend.dead_letters(QUEUE, limit=100)
    assert len(letters) == len(_KINDS)
    undecodable = [letter for letter in letters if letter.raw is not None]
    assert len(undecodable) == len(POISON)
    [unknown] = [letter for letter in letters if letter.raw is None]
    assert unknown.job.task == "this.x"
    assert "Traceback" not in space.logs()
