"""Every listing of the ``dqueue`` command renders poison safely: dead letters whose payload
could not be decoded are listed with their reason, their raw text escaped and cut short, never
a traceback; retrying them leaves them dead, with their reason."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dqueue.backends import load_backend
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.job import Job, new_job_id
from dqueue.ops.inspection import RAW_PREVIEW_CHARS
from dqueue.settings import Settings
from tests.support.backends import UNAVAILABLE_BACKENDS
from tests.support.poison import POISON, SECRET, inject, poison_payload

pytestmark = pytest.mark.slow

_STORES = {
    "sqlite": "dqueue.backends.sqlite.SQLiteBackend",
    "redis": "dqueue_redis.RedisBackend",
    "reliable_redis": "dqueue_redis.ReliableRedisBackend",
}


@pytest.fixture(params=sorted(_STORES))
def poisoned(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, str]:
    """The environment of a store whose queue ``default`` holds one dead letter per poison."""
    name = str(request.param)
    if name in UNAVAILABLE_BACKENDS:
        pytest.skip(UNAVAILABLE_BACKENDS[name])
    env = {"DQUEUE_BACKEND": _STORES[name], "DQUEUE_SQLITE_PATH": str(tmp_path / "q.sqlite3")}
    if "redis" in name:
        from tests.support.redis_server import shared_server, unique_prefix

        env |= {"DQUEUE_REDIS_URL": shared_server().url, "DQUEUE_REDIS_PREFIX": unique_prefix()}
    settings = Settings(BACKEND=env["DQUEUE_BACKEND"], SQLITE_PATH=env["DQUEUE_SQLITE_PATH"])
    if "redis" in name:
        settings = settings.replace(
            REDIS_URL=env["DQUEUE_REDIS_URL"], REDIS_PREFIX=env["DQUEUE_REDIS_PREFIX"]
        )
    backend = load_backend(env["DQUEUE_BACKEND"], settings)
    backend.enqueue(Job(id=new_job_id(), task="tests.healthy", queue="default"))
    for number, kind in enumerate(sorted(POISON)):
        inject(backend, "default", f"p{number}", poison_payload(kind, f"p{number}", "default"))
    taken = backend.reserve("default", worker_id="lister", timeout_s=0, limit=100)
    assert [job.task for job in taken] == ["tests.healthy"]
    backend.settle([Outcome(job=taken[0], kind=OutcomeKind.ACK)], worker_id="lister")
    backend.close()
    return env


def _dqueue(env: dict[str, str], *argv: str) -> str:
    clean = {key: value for key, value in os.environ.items() if not key.startswith("DQUEUE_")}
    result = subprocess.run(
        [sys.executable, "-m", "dqueue", *argv],
        env=clean | env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    shown = f"exit {result.returncode}\nstderr:\n{result.stderr[-3000:]}"
    assert result.returncode == 0, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    assert "\x1b" not in result.stdout + result.stderr
    return result.stdout


def test_dead_list_shows_each_poison_with_its_reason_and_no_payload(
    poisoned: dict[str, str],
) -> None:
    table = _dqueue(poisoned, "dead", "list", "default")
    tracebacks = _dqueue(poisoned, "dead", "list", "default", "--failure-tracebacks")

    assert table.count("DecodeError") == len(POISON)
    assert SECRET not in table + tracebacks
    assert "ERROR forged" not in table + tracebacks


def test_dead_list_as_json_shows_the_raw_payloads_escaped_and_cut_short(
    poisoned: dict[str, str],
) -> None:
    letters = json.loads(_dqueue(poisoned, "dead", "list", "default", "--json"))

    assert len(letters) == len(POISON)
    for letter in letters:
        raw = letter["raw"]
        assert len(raw) <= RAW_PREVIEW_CHARS + 40
        assert raw.isprintable()  # escaped: no newline, no terminal escape, no surrogate
        assert SECRET not in letter["failure"]["message"]
    assert any(raw.endswith("more characters)") for raw in (x["raw"] for x in letters))


def test_retrying_poison_leaves_it_dead_with_its_reason(poisoned: dict[str, str]) -> None:
    before = json.loads(_dqueue(poisoned, "dead", "list", "default", "--json"))

    assert "Requeued 0 dead letter(s)" in _dqueue(poisoned, "dead", "retry", "default", "--all")

    after = json.loads(_dqueue(poisoned, "dead", "list", "default", "--json"))
    assert sorted(json.dumps(x, sort_keys=True) for x in after) == sorted(
        json.dumps(x, sort_keys=True) for x in before
    )
    status = _dqueue(poisoned, "status")
    [row] = [line for line in status.splitlines() if line.startswith("default ")]
    assert f" {len(POISON)} " in row


def test_jobs_and_job_show_each_poison_as_its_raw_payload_escaped(
    poisoned: dict[str, str],
) -> None:
    table = _dqueue(poisoned, "jobs", "default", "--state", "dead", "--limit", "100")
    page = json.loads(
        _dqueue(poisoned, "jobs", "default", "--state", "dead", "--limit", "100", "--json")
    )

    assert table.count("DecodeError") == len(POISON)
    assert SECRET not in table
    assert len(page["jobs"]) == len(POISON)
    assert all(row["raw"].isprintable() for row in page["jobs"])
    # One page per process is slow: the terminal escape and the oversize payload stand for all.
    forged = next(row["id"] for row in page["jobs"] if "ERROR forged" in row["raw"])
    oversize = next(row["id"] for row in page["jobs"] if row["raw"].endswith("characters)"))
    for job_id in (forged, oversize):
        text = _dqueue(poisoned, "job", job_id)
        shown = json.loads(_dqueue(poisoned, "job", job_id, "--json"))
        assert "raw payload: " in text
        assert not any(line.startswith("ERROR forged") for line in text.splitlines())
        assert shown["raw"].isprintable()
        assert len(shown["raw"]) <= RAW_PREVIEW_CHARS + 40
