"""The transactional outbox end to end: a process dies right after its commit, the job runs.

A ``manage.py`` process commits a transaction holding a Record and an enqueue, then is killed
(SIGKILL) before its after-commit send. The job was written to the outbox in that transaction,
so a ``queue_runner``'s outbox relay sends it, and the runner's worker runs it, once.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dqueue.testing import wait_for
from tests.django_project import harness
from tests.support.redis_server import shared_server

harness.ensure_django()

from dqtest_shop.models import Record  # noqa: E402

from dqueue_django.models import OutboxJob  # noqa: E402

pytestmark = [pytest.mark.django, pytest.mark.slow]


@dataclass(frozen=True)
class Runner:
    """A running ``queue_runner`` with the outbox on, and the environment to reach its store."""

    env: dict[str, str]
    log: Path


@pytest.fixture(params=["sqlite", "redis"])
def runner(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Runner]:
    """A ``queue_runner`` subprocess on a fresh store, with ``DQUEUE_OUTBOX`` on."""
    env = {"DQTEST_BACKEND": request.param, "DQTEST_WORKERS": '{"default": 1}'}
    if request.param == "sqlite":
        env["DQTEST_QUEUE_DB"] = str(tmp_path / "queue.sqlite3")
    else:
        env["DQTEST_REDIS_URL"] = shared_server().url
        env["DQTEST_REDIS_PREFIX"] = f"dqtest-{uuid.uuid4().hex[:8]}"
    env["DQUEUE_OUTBOX"] = "true"
    started = Runner(harness.project_env(**env), tmp_path / "runner.log")
    OutboxJob.objects.all().delete()
    with harness.running("queue_runner", env=started.env, log=started.log) as process:
        yield started
        assert process.poll() is None, started.log.read_text()
        assert harness.stop(process) == 0


def runs_of(kind: str) -> int:
    return Record.objects.filter(kind=kind).count()


def test_a_job_committed_by_a_process_killed_before_sending_it_runs_once(runner: Runner) -> None:
    kind = f"outbox-{uuid.uuid4().hex[:8]}"

    died = harness.manage("enqueue_then_die", kind, "v", env=runner.env)

    assert died.returncode == -signal.SIGKILL, died.stderr
    assert Record.objects.filter(kind="committed", value="v").exists()
    wait_for(
        lambda: runs_of(kind) >= 1 and not OutboxJob.objects.exists(),
        explain=harness.tail(runner.log),
        what="the relayed job's run",
    )
    wait_for(
        lambda: "outbox relay: sent 1 job(s)" in runner.log.read_text(),
        explain=harness.tail(runner.log),
        what="the relay's log line",
    )
    assert runs_of(kind) == 1
    wait_for(
        lambda: queue_is_empty(runner), explain=harness.tail(runner.log), what="an empty queue"
    )
    assert runs_of(kind) == 1


def queue_is_empty(runner: Runner) -> bool:
    """No copy of any job is left in the store to run again."""
    status = harness.manage("queue_status", "default", "--json", env=runner.env)
    assert status.returncode == 0, status.stderr
    [row] = json.loads(status.stdout)
    return row["ready"] + row["delayed"] + row["in_flight"] == 0
