"""Live workers as the front ends get them: ``ops.live_workers``, ``status`` and their tables."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from dqueue import configure, get_backend, ops
from dqueue.backends.memory import MemoryBackend
from dqueue.backends.workers import WorkerBeat
from dqueue.cli import main
from dqueue.clock import ManualClock
from dqueue.errors import UnsupportedOperation
from dqueue.job import Job, new_job_id
from dqueue.settings import get_settings
from dqueue.status import render_status, render_workers

MEMORY = "dqueue.backends.memory.MemoryBackend"
OTHER = "tests.support.backends.MemoryBackend"  # the same class by another path: another store


def beat(name: str = "mail/1", queue: str = "mail", **fields: Any) -> WorkerBeat:
    sent = WorkerBeat(
        worker_id=f"web-1:7:{name}",
        name=name,
        queue=queue,
        host="web-1",
        pid=7,
        started_at=1000.0,
    )
    return dataclasses.replace(sent, **fields)


@pytest.fixture
def memory() -> MemoryBackend:
    configure(BACKEND=MEMORY, WORKERS={"mail": 2, "reports": 1})
    backend = get_backend("default")
    assert isinstance(backend, MemoryBackend)
    return backend


def test_live_workers_are_those_of_the_queues_asked_for(memory: MemoryBackend) -> None:
    for one in (beat("mail/1"), beat("mail/2"), beat("reports/1", "reports")):
        memory.beat(one, ttl_s=60)

    listing = ops.live_workers(get_settings(), ["mail"])

    assert [one.name for one in listing.workers] == ["mail/1", "mail/2"]
    assert (listing.live("mail"), listing.live("reports")) == (2, 0)
    assert len(ops.live_workers(get_settings()).workers) == 3


def test_a_queue_of_another_store_is_listed_from_that_store_only(memory: MemoryBackend) -> None:
    configure(BACKEND=MEMORY, BACKEND_OVERRIDES={"reports": OTHER})
    memory.beat(beat("reports/9", "reports"), ttl_s=60)  # in the wrong store: not its own
    other = get_backend("reports")
    assert isinstance(other, MemoryBackend)
    assert other is not memory
    other.beat(beat("reports/1", "reports"), ttl_s=60)

    listed = ops.live_workers(get_settings()).workers

    assert [one.name for one in listed] == ["reports/1"]


def test_a_store_that_keeps_no_record_of_workers_is_named_not_guessed() -> None:
    listing = ops.live_workers(get_settings(), ["mail"])  # the synchronous default

    assert (listing.workers, listing.unseen) == ((), ("mail",))
    assert listing.blind == ("SynchronousBackend",)
    assert listing.live("mail") is None
    with pytest.raises(UnsupportedOperation, match="SynchronousBackend keeps no record"):
        listing.check_seen()


def test_status_shows_live_workers_beside_the_pool_and_flags_ready_jobs_nobody_runs(
    memory: MemoryBackend,
) -> None:
    memory.beat(beat("reports/1", "reports"), ttl_s=60)
    memory.enqueue_many([Job(id=new_job_id(), task="t", queue=q) for q in ("mail", "reports")])

    rows = ops.queue_status(get_settings(), ["mail", "reports"], pool={"mail": 2, "reports": 1})

    assert [(r.workers, r.live_workers, r.no_live_worker) for r in rows] == [
        (2, 0, True),
        (1, 1, False),
    ]
    assert rows[0].to_dict()["no_live_worker"] is True
    text = render_status(rows)
    assert "WARNING: queue mail has 1 ready job(s) and no live worker" in text
    assert "reports has" not in text


def test_a_queue_whose_store_cant_tell_is_not_flagged() -> None:
    [row] = ops.queue_status(get_settings(), ["mail"])

    assert (row.live_workers, row.no_live_worker) == (None, False)


def test_the_workers_table_escapes_what_workers_said_of_themselves() -> None:
    hostile = beat(
        "mail/1\x1b[2J\nforged line",
        host="web\r-1",
        job_id="job-1",
        job_task="app.send\x07",
        job_started_at=1090.0,
        processed=12,
        failed=3,
        beat_at=1099.0,
    )
    listing = ops.WorkerListing(workers=(hostile,), now=1100.0, stores=1)

    text = render_workers(listing)

    assert not {"\x1b", "\r", "\x07"} & set(text)
    header, _, line = text.splitlines()
    assert header.split() == [
        "name",
        "queue",
        "host",
        "pid",
        "up",
        "job",
        "for",
        "done",
        "failed",
        "beat",
    ]
    assert line.split() == [
        r"mail/1\x1b[2J\nforged",
        "line",
        "mail",
        r"web\r-1",
        "7",
        "1m40s",
        r"app.send\x07[job-1]",
        "10s",
        "12",
        "3",
        "1s",
        "ago",
    ]


def test_dqueue_workers_prints_json_with_ages(
    memory: MemoryBackend, capsys: pytest.CaptureFixture[str], clock: ManualClock
) -> None:
    memory.beat(beat(job_id="job-1", job_task="app.send", job_started_at=1.0), ttl_s=60)

    assert main(["workers", "mail", "--json"]) == 0

    [row] = json.loads(capsys.readouterr().out)
    assert (row["name"], row["job_id"], row["processed"]) == ("mail/1", "job-1", 0)
    assert row["started_at"] == "1970-01-01T00:16:40+00:00"
    assert row["up_s"] > 0
    assert row["beat_ago_s"] >= 0


def test_dqueue_workers_without_workers_says_so(
    memory: MemoryBackend, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["workers"]) == 0

    assert capsys.readouterr().out.strip() == "No live workers."
