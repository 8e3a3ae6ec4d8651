"""``manage.py queue_runner`` end to end: the test project's runner as a real subprocess.

Jobs are enqueued from a view (Django's test client) and from the test itself, into a real
store (an SQLite file, or a real Redis server); the runner's worker processes run them and
write rows into the project's SQLite database, which the test then reads.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from django.test import Client, override_settings

from dqueue.testing import wait_for
from tests.django_project import harness
from tests.support.redis_server import shared_server

harness.ensure_django()

from dqtest_shop.models import Record  # noqa: E402
from dqtest_shop.tasks import record, record_slowly, record_then_fail  # noqa: E402

pytestmark = [pytest.mark.django, pytest.mark.slow]

BACKENDS = {
    "sqlite": "dqueue.backends.sqlite.SQLiteBackend",
    "redis": "dqueue.backends.redis.RedisBackend",
    "reliable_redis": "dqueue.backends.reliable_redis.ReliableRedisBackend",
}


@dataclass(frozen=True)
class Store:
    """Where one runner's jobs live, for the subprocesses (env) and for this process."""

    kind: str
    env: dict[str, str]
    settings: dict[str, object]
    log: Path


def _store(kind: str, folder: Path, redis_url: str | None) -> Store:
    env = {"DQTEST_BACKEND": kind, "DQTEST_WORKERS": '{"default": 1, "slow": 1}'}
    settings: dict[str, object] = {"DQUEUE_BACKEND": BACKENDS[kind]}
    if kind == "sqlite":
        path = str(folder / "queue.sqlite3")
        env["DQTEST_QUEUE_DB"] = path
        settings["DQUEUE_SQLITE_PATH"] = path
    else:
        prefix = f"dqtest-{uuid.uuid4().hex[:8]}"
        assert redis_url is not None
        env |= {"DQTEST_REDIS_URL": redis_url, "DQTEST_REDIS_PREFIX": prefix}
        settings |= {"DQUEUE_REDIS_URL": redis_url, "DQUEUE_REDIS_PREFIX": prefix}
    return Store(kind, harness.project_env(**env), settings, folder / "runner.log")


@pytest.fixture(scope="module", params=["sqlite", "redis", "reliable_redis"])
def runner(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Store]:
    """A ``queue_runner`` subprocess for the whole module, one per store."""
    redis_url = None
    if request.param != "sqlite":
        redis_url = request.getfixturevalue("redis_url")
    store = _store(request.param, tmp_path_factory.mktemp(request.param), redis_url)
    touch = str(store.log.parent / "%s.success")
    with harness.running(
        "queue_runner", f"--touchfile={touch}", env=store.env, log=store.log
    ) as process:
        yield store
        assert process.poll() is None, store.log.read_text()


@pytest.fixture(scope="module")
def redis_url() -> str:
    """The session's real Redis (or Valkey) server, on a free loopback port."""
    return shared_server().url


@pytest.fixture
def store(runner: Store) -> Iterator[Store]:
    """This process enqueues into the runner's store; rows start empty."""
    with harness.dqueue_django_state(), override_settings(**runner.settings):
        yield runner


def rows(kind: str) -> list[str]:
    return list(Record.objects.filter(kind=kind).values_list("value", flat=True))


def wait_for_rows(store: Store, kind: str, count: int = 1) -> list[str]:
    return wait_for(
        lambda: len(rows(kind)) >= count and rows(kind),
        explain=harness.tail(store.log),
        what=f"{count} {kind} row(s)",
    )


def test_a_task_enqueued_from_a_view_runs_in_the_runner(store: Store) -> None:
    response = Client().get("/enqueue/", {"value": "v1"})

    assert response.status_code == 200
    assert wait_for_rows(store, "from-view") == ["v1"]
    assert rows("view") == ["v1"]  # the view's own row, committed with the enqueue


def test_tasks_enqueued_from_the_test_run_on_their_queues(store: Store) -> None:
    record("direct", "a")
    record_slowly("slowly", "b")
    record.enqueue_in(0.5, "delayed", "c")

    assert wait_for_rows(store, "direct") == ["a"]
    assert wait_for_rows(store, "slowly") == ["b"]
    assert wait_for_rows(store, "delayed") == ["c"]


def test_an_enqueue_rolled_back_in_a_view_never_runs(store: Store) -> None:
    response = Client().get("/enqueue-then-fail/", {"value": "v2"})
    record("sentinel", "after")  # same queue, one worker: runs after anything sent before it

    assert response.status_code == 500
    wait_for_rows(store, "sentinel")
    assert rows("from-rolled-back-view") == []
    assert rows("view-rolled-back") == []


def test_an_atomic_task_that_raises_leaves_no_rows(store: Store) -> None:
    record_then_fail("atomic", "x")
    record("sentinel", "after")

    wait_for_rows(store, "sentinel")
    assert rows("atomic") == []
    assert rows("atomic-follow-up") == []


def test_workers_touch_the_runner_s_touch_file_after_a_success(store: Store) -> None:
    record("touch", "t")
    wait_for_rows(store, "touch")

    assert wait_for(lambda: (store.log.parent / "default.success").exists())
