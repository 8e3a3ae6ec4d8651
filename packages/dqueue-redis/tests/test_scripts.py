"""Scripts run by SHA and reload themselves when the server forgot them (NOSCRIPT)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import redis

from dqueue.job import Job
from dqueue_redis.scripts import SOURCES

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]


def _sha(name: str) -> str:
    return hashlib.sha1(SOURCES[name].encode()).hexdigest()


def test_every_script_is_the_shared_prelude_then_its_own_file() -> None:
    lua = resources.files("dqueue_redis").joinpath("lua")
    prelude = lua.joinpath("common.lua").read_text("utf-8")

    assert "common" not in SOURCES
    assert {"enqueue", "reserve", "settle"} <= set(SOURCES)
    for name, text in SOURCES.items():
        assert text.startswith(prelude)
        assert text.endswith(lua.joinpath(f"{name}.lua").read_text("utf-8"))


def test_every_script_compiles(raw: redis.Redis) -> None:
    for name, text in SOURCES.items():
        assert raw.script_load(text) == _sha(name)


def test_a_flushed_script_cache_is_reloaded_transparently(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis
) -> None:
    backend = make_backend()
    first = make_job()
    backend.enqueue(first)
    raw.script_flush()
    assert raw.script_exists(_sha("reserve")) == [False]

    taken = backend.reserve("default", worker_id="w", timeout_s=0)

    assert [job.id for job in taken] == [first.id]
    assert raw.script_exists(_sha("reserve")) == [True]


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
