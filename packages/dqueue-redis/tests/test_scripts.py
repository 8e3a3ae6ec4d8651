"""Scripts run by SHA and reload themselves when the server forgot them (NOSCRIPT)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

import pytest
import redis
from redis.connection import Encoder, PythonRespSerializer

from dqueue.job import Job
from dqueue_redis import scripts
from dqueue_redis.lua_link import link
from dqueue_redis.scripts import SOURCES

MakeBackend = Callable[..., Any]
MakeJob = Callable[..., Job]


def _sha(name: str) -> str:
    return hashlib.sha1(SOURCES[name].encode()).hexdigest()


def test_every_script_is_its_own_file_after_the_prelude_it_uses() -> None:
    lua = resources.files("dqueue_redis").joinpath("lua")
    prelude = lua.joinpath("common.lua").read_text("utf-8")

    assert "common" not in SOURCES
    assert {"enqueue", "reserve", "settle"} <= set(SOURCES)
    for name, text in SOURCES.items():
        body = lua.joinpath(f"{name}.lua").read_text("utf-8")
        assert text.endswith(body)
        assert text.startswith(prelude[: prelude.index("local base")])  # the header, then base
        assert len(text) < len(prelude) + len(body)  # no script uses every helper
    assert "local function recover_expired" in SOURCES["reserve"]
    assert "local function recover_expired" not in SOURCES["enqueue"]
    assert "K_WORKERS" not in SOURCES["enqueue"]


def test_link_keeps_what_the_body_uses_through_other_definitions_in_order() -> None:
    prelude = (
        "-- header\n"
        "local base = ARGV[1]\n"
        "local K_A = base .. 'a'\n"
        "local K_B = base .. 'b'\n"
        "\n"
        "-- Reads a.\n"
        "local function read_a()\n"
        "  return redis.call('GET', K_A)\n"
        "end\n"
        "\n"
        "-- Unused.\n"
        "local function read_b()\n"
        "  return redis.call('GET', K_B)\n"
        "end\n"
        "local x, y = 1, 2\n"
    )

    linked = link(prelude, "return read_a() + y\n")

    assert linked == (
        "-- header\n"
        "local base = ARGV[1]\n"
        "local K_A = base .. 'a'\n"
        "-- Reads a.\n"
        "local function read_a()\n"
        "  return redis.call('GET', K_A)\n"
        "end\n"
        "\n"
        "local x, y = 1, 2\n"
        "return read_a() + y\n"
    )


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


def _packed_by_redis_py(args: tuple[object, ...]) -> bytes:
    """The bytes redis-py's own packer sends for ``args`` (without hiredis)."""
    encoder = Encoder(encoding="utf-8", encoding_errors="strict", decode_responses=False)
    return b"".join(PythonRespSerializer(6000, encoder.encode).pack(*args))


def test_hiredis_packs_a_scripts_arguments_as_redis_py_does() -> None:
    hiredis = pytest.importorskip("hiredis")
    # What the scripts take: a name, a SHA, a key count, text, payload bytes, numbers.
    args = ("EVALSHA", "0" * 40, 1, "dq:q:jobs", b"\xff\x00{}", "caf\u00e9", -7, 0.1, 1e-7, "")

    assert hiredis.pack_command(args) == _packed_by_redis_py(args)


def test_a_command_packed_ahead_runs_as_redis_py_would_send_it(
    make_backend: MakeBackend, make_job: MakeJob, raw: redis.Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The path taken with hiredis installed, whatever this environment has: the command is
    # packed first and sent as it is.
    packed: list[tuple[object, ...]] = []

    def pack(args: tuple[object, ...]) -> bytes:
        packed.append(args)
        return _packed_by_redis_py(args)

    monkeypatch.setattr(scripts, "_pack_command", pack)
    backend = make_backend()
    job = make_job(args=("caf\u00e9", 0.5, -3), kwargs={"note": "\u2603"})
    # Each script is refused once (NOSCRIPT), loaded, and sent again.
    raw.script_flush()
    backend.enqueue(job)
    raw.script_flush()

    [taken] = backend.reserve("default", worker_id="w", timeout_s=0)

    assert (taken.id, taken.args) == (job.id, ("caf\u00e9", 0.5, -3))
    assert taken.kwargs == {"note": "\u2603"}
    assert {args[0] for args in packed} == {"EVALSHA"}
    assert [args[1] for args in packed] == [_sha("enqueue")] * 2 + [_sha("reserve")] * 2


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
