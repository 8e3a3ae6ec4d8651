"""Scripts run by SHA and reload themselves when the server forgot them (NOSCRIPT)."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import redis

from dqueue.job import Job
from dqueue_redis.scripts import SCRIPTS

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]


def test_every_script_carries_the_shared_prelude() -> None:
    assert SCRIPTS
    for script in SCRIPTS.values():
        assert "local base = ARGV[1]" in script.source
        assert f"-- {script.name}.lua" in script.source


def test_a_script_names_only_the_keys_it_uses() -> None:
    enqueue = SCRIPTS["enqueue"].source
    assert "local K_JOBS = base .. 'jobs'" in enqueue
    assert "local K_DEAD = " not in enqueue
    for script in SCRIPTS.values():
        lines = script.source.splitlines()
        for index, line in enumerate(lines):
            if line.startswith("local K_"):
                name = line.split()[1]
                rest = "\n".join(lines[index + 1 :])
                assert re.search(rf"\b{name}\b", rest), f"{script.name} defines {name} unused"


def test_a_script_carries_only_the_helpers_it_calls_directly_or_not() -> None:
    enqueue, settle = SCRIPTS["enqueue"].source, SCRIPTS["settle"].source

    assert "local function promote(" in enqueue
    assert "local function priority_of(" in enqueue  # called by promote
    assert "local function recover_expired(" not in enqueue
    assert "local function forget_many(" in settle
    assert "local function release_unique(" in settle  # called by forget_many
    assert "local function promote(" not in settle


def test_a_flushed_script_cache_is_reloaded_transparently(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis
) -> None:
    backend = make_backend()
    first = make_job()
    backend.enqueue(first)
    raw.script_flush()
    assert raw.script_exists(SCRIPTS["reserve"].sha) == [False]

    taken = backend.reserve("default", worker_id="w", timeout_s=0)

    assert [job.id for job in taken] == [first.id]
    assert raw.script_exists(SCRIPTS["reserve"].sha) == [True]


def test_a_pipelined_batch_reloads_scripts_the_server_forgot(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis
) -> None:
    backend = make_backend()
    jobs = [make_job(queue="mail"), make_job(queue="reports"), make_job(queue="mail")]
    backend.queues()  # connects
    raw.script_flush()

    ids = backend.enqueue_many(jobs)

    assert ids == [job.id for job in jobs]
    assert (backend.counts("mail").ready, backend.counts("reports").ready) == (2, 1)


def test_enqueue_many_of_thousands_of_jobs_is_chunked_and_keeps_order(
    make_backend: MakeBackend, make_job: MakeJob
) -> None:
    backend = make_backend()
    jobs = [make_job(args=(index,)) for index in range(2500)]

    assert backend.enqueue_many(jobs) == [job.id for job in jobs]

    taken = []
    while batch := backend.reserve("default", worker_id="w", timeout_s=0, limit=1000):
        taken.extend(job.args[0] for job in batch)
    assert taken == list(range(2500))


def test_promotion_moves_jobs_due_at_one_instant_in_their_scheduling_order(
    make_backend: MakeBackend, make_job: MakeJob
) -> None:
    backend = make_backend()
    due = time.time() + 0.3
    jobs = [make_job(run_after=due, args=(index,)) for index in range(50)]
    backend.enqueue_many(jobs)

    taken = backend.reserve("default", worker_id="w", timeout_s=20, limit=50)

    assert [job.args[0] for job in taken] == list(range(50))
