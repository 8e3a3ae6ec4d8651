"""Django's Tasks framework on dqueue, end to end: ``queue_runner`` runs ``django.tasks``.

Needs Django 6.0 (Python 3.12+); skipped on Django 5.2.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import django
import pytest

if django.VERSION < (6, 0):
    pytest.skip("Django's Tasks framework needs Django 6.0", allow_module_level=True)

from django.test import override_settings

from dqueue.testing import wait_for
from tests.django_project import harness

harness.ensure_django()

from django.conf import settings as django_settings  # noqa: E402
from django.tasks import TaskResultStatus  # noqa: E402
from dqtest_shop import django_tasks  # noqa: E402
from dqtest_shop.models import Record  # noqa: E402

from dqueue_django.tasks_backend import DQueueTaskBackend  # noqa: E402

pytestmark = [pytest.mark.django, pytest.mark.slow]


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("django-tasks")
    queue_db = folder / "queue.sqlite3"
    env = harness.project_env(DQTEST_BACKEND="sqlite", DQTEST_QUEUE_DB=str(queue_db))
    log = folder / "runner.log"
    with harness.running("queue_runner", env=env, log=log):
        yield queue_db, log


@pytest.fixture
def log(runner: tuple[Path, Path]) -> Iterator[Path]:
    queue_db, runner_log = runner
    with (
        harness.dqueue_django_state(),
        override_settings(
            DQUEUE_BACKEND="dqueue.backends.sqlite.SQLiteBackend", DQUEUE_SQLITE_PATH=str(queue_db)
        ),
    ):
        yield runner_log


def finished(result: Any, log: Path) -> Any:
    def done() -> bool:
        result.refresh()
        return bool(result.is_finished)

    wait_for(done, explain=harness.tail(log), what=f"task {result.id} to finish")
    return result


def test_a_task_runs_in_a_worker_and_its_result_is_read_back(log: Path) -> None:
    result = finished(django_tasks.add.enqueue(20, 22), log)

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 42
    assert len(result.worker_ids) == 1
    assert f":{os.getpid()}:" not in result.worker_ids[0]


def test_a_result_read_by_a_fresh_backend_has_the_task_s_arguments(log: Path) -> None:
    result = finished(django_tasks.add.enqueue(20, b=22), log)

    fresh = DQueueTaskBackend("default", dict(django_settings.TASKS["default"]))
    read = fresh.get_result(result.id)

    assert read.status == TaskResultStatus.SUCCESSFUL
    assert (read.args, read.kwargs) == ([20], {"b": 22})


def test_a_task_on_its_own_queue_writes_its_row(log: Path) -> None:
    result = finished(django_tasks.write_record.enqueue("from django.tasks"), log)

    assert Record.objects.get(id=result.return_value).value == "from django.tasks"


def test_a_failing_task_is_failed_with_its_exception(log: Path) -> None:
    result = finished(django_tasks.explode.enqueue("no luck"), log)

    assert result.status == TaskResultStatus.FAILED
    assert result.errors[0].exception_class is ValueError
    assert "no luck" in result.errors[0].traceback


def test_started_and_finished_signals_are_sent_by_the_worker(log: Path) -> None:
    result = finished(django_tasks.add.enqueue(1, 1), log)

    def sent(name: str) -> list[list[str]]:
        values = Record.objects.filter(kind=name).values_list("value", flat=True)
        return [value.split(":") for value in values]

    started, ended = sent("task_started"), sent("task_finished")
    assert [row[:2] for row in started] == [[result.id, "RUNNING"]]
    assert [row[:2] for row in ended] == [[result.id, "SUCCESSFUL"]]
    assert started[0][3] != str(os.getpid())  # sent from the worker process
