"""dqueue as a backend of Django's Tasks framework (Django 6.0+), run in this process."""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import django
import pytest

if django.VERSION < (6, 0):
    pytest.skip("Django's Tasks framework needs Django 6.0", allow_module_level=True)

from django.conf import settings as django_settings
from django.db import transaction
from django.tasks import TaskResultStatus, default_task_backend, task_backends
from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist, TaskResultMismatch
from django.test import override_settings
from django.utils import timezone
from dqtest_shop import django_tasks
from dqtest_shop.models import Record

from dqueue.backends import Backend
from dqueue.backends.base import control_of
from dqueue.job import Job, new_job_id
from dqueue.settings import get_settings
from dqueue.worker import Worker
from dqueue_django.tasks_backend import DQueueTaskBackend
from dqueue_django.tasks_runner import META_KEY

Backends = Callable[[str], Backend]

pytestmark = pytest.mark.usefixtures("memory_backend")


def run_queue(queue: str = "default") -> None:
    assert Worker(get_settings(), queue, burst=True).run() == 0


def signals(name: str) -> list[str]:
    return list(Record.objects.filter(kind=name).values_list("value", flat=True))


def test_the_backend_is_dqueue_s() -> None:
    assert isinstance(task_backends["default"], DQueueTaskBackend)


def test_capabilities_follow_a_dqueue_backend_that_delays_orders_and_keeps_results() -> None:
    assert default_task_backend.supports_defer
    assert default_task_backend.supports_priority
    assert default_task_backend.supports_get_result
    assert default_task_backend.supports_async_task


def test_capabilities_are_off_behind_the_synchronous_backend() -> None:
    with override_settings(DQUEUE_BACKEND="dqueue.backends.synchronous.SynchronousBackend"):
        assert not default_task_backend.supports_defer
        assert not default_task_backend.supports_priority
        assert not default_task_backend.supports_get_result


def test_enqueue_returns_a_ready_result_with_the_arguments() -> None:
    result = django_tasks.add.enqueue(2, b=3)

    assert result.status == TaskResultStatus.READY
    assert (result.args, result.kwargs) == ([2], {"b": 3})
    assert result.backend == "default"
    assert len(result.id) < 64
    assert result.enqueued_at is not None


def test_the_job_is_named_by_the_task_s_module_path(memory_backend: Backends) -> None:
    result = django_tasks.add.enqueue(1, 2)

    info = memory_backend("default").result(result.id)
    assert info is not None
    assert info.task == "dqtest_shop.django_tasks.add"


def test_a_result_is_ready_until_a_worker_runs_it() -> None:
    result = django_tasks.add.enqueue(2, 3)

    assert default_task_backend.get_result(result.id).status == TaskResultStatus.READY


def test_a_worker_runs_the_task_and_the_result_says_so() -> None:
    result = django_tasks.add.enqueue(2, 3)

    run_queue()
    result.refresh()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert result.return_value == 5
    assert result.errors == []
    assert len(result.worker_ids) == 1
    assert result.started_at is not None
    assert result.finished_at is not None
    assert result.finished_at >= result.started_at


def test_a_job_naming_a_django_task_not_imported_at_start_is_dead_lettered_unimported(
    memory_backend: Backends, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = f"dq_django_probe_{new_job_id()[:12]}"
    (tmp_path / f"{module}.py").write_text(
        "from django.tasks import task\n\n@task\ndef probe() -> None:\n    pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    probe = Job(id=new_job_id(), task=f"{module}.probe", meta={META_KEY: "default"})
    memory_backend("default").enqueue(probe)
    after = django_tasks.add.enqueue(1, 1)

    run_queue()

    [letter] = control_of(memory_backend("default")).dead_letters("default")
    assert letter.failure.exception_type.endswith("TaskNotRegistered")
    assert module not in sys.modules
    after.refresh()
    assert after.status == TaskResultStatus.SUCCESSFUL


def test_a_task_that_raises_is_failed_with_its_error() -> None:
    result = django_tasks.explode.enqueue("kaboom")

    run_queue()
    result.refresh()

    assert result.status == TaskResultStatus.FAILED
    assert [error.exception_class for error in result.errors] == [ValueError]
    assert "kaboom" in result.errors[0].traceback
    with pytest.raises(ValueError, match="Task failed"):
        result.return_value  # noqa: B018


def test_a_return_value_that_is_not_json_fails_the_task() -> None:
    result = django_tasks.unserialisable.enqueue()

    run_queue()
    result.refresh()

    assert result.status == TaskResultStatus.FAILED


def test_a_task_that_takes_context_gets_its_attempt_and_result_id() -> None:
    result = django_tasks.which_attempt.enqueue()

    run_queue()
    result.refresh()

    assert result.return_value == {"attempt": 1, "id": result.id}


def test_an_async_task_is_run_by_the_worker() -> None:
    result = django_tasks.add_async.enqueue(4, 5)

    run_queue()
    result.refresh()

    assert result.return_value == 9


def test_a_task_on_another_queue_with_a_priority_runs_there() -> None:
    result = django_tasks.write_record.enqueue("queued")

    run_queue("django-tasks")
    result.refresh()

    assert result.status == TaskResultStatus.SUCCESSFUL
    assert Record.objects.get(id=result.return_value).value == "queued"


def test_run_after_an_aware_datetime_delays_the_job(memory_backend: Backends) -> None:
    later = timezone.now() + timedelta(hours=1)

    django_tasks.add.using(run_after=later).enqueue(1, 1)

    counts = memory_backend("default").counts("default")
    assert (counts.ready, counts.delayed) == (0, 1)


def test_run_after_a_timedelta_delays_the_job_from_the_enqueue(memory_backend: Backends) -> None:
    django_tasks.add.using(run_after=timedelta(minutes=5)).enqueue(1, 1)  # type: ignore[arg-type]

    counts = memory_backend("default").counts("default")
    assert (counts.ready, counts.delayed) == (0, 1)


def test_a_naive_run_after_is_refused() -> None:
    with pytest.raises(InvalidTask, match="aware"):
        django_tasks.add.using(run_after=timezone.now().replace(tzinfo=None))


def test_a_priority_outside_the_range_is_refused() -> None:
    with pytest.raises(InvalidTask, match="priority"):
        django_tasks.add.using(priority=101)


def test_a_queue_not_in_the_backend_s_queues_is_refused() -> None:
    with pytest.raises(InvalidTask, match="Queue 'elsewhere'"):
        django_tasks.add.using(queue_name="elsewhere")


def fresh_task_backend() -> DQueueTaskBackend:
    """A backend instance of its own, as another process would build from the settings."""
    return DQueueTaskBackend("default", dict(django_settings.TASKS["default"]))


def test_a_result_read_by_a_fresh_backend_has_the_task_s_arguments() -> None:
    result = django_tasks.add.enqueue(2, b=3)

    run_queue()

    read = fresh_task_backend().get_result(result.id)
    assert read.status == TaskResultStatus.SUCCESSFUL
    assert (read.args, read.kwargs) == ([2], {"b": 3})


def test_a_failed_result_read_by_a_fresh_backend_has_the_task_s_arguments() -> None:
    result = django_tasks.explode.enqueue("kaboom")

    run_queue()

    read = fresh_task_backend().get_result(result.id)
    assert read.status == TaskResultStatus.FAILED
    assert (read.args, read.kwargs) == (["kaboom"], {})


def test_a_cancelled_task_reads_as_failed_and_its_worker_never_runs_it() -> None:
    from dqueue import ops

    result = django_tasks.add.enqueue(2, b=3)
    cancel = ops.cancel_jobs(get_settings(), [result.id])
    assert cancel.changed == (result.id,)

    run_queue()

    read = fresh_task_backend().get_result(result.id)
    assert read.status == TaskResultStatus.FAILED
    assert read.finished_at is not None
    assert (read.args, read.kwargs) == ([2], {"b": 3})
    assert signals("task_started") == []
    assert [error.exception_class_path for error in read.errors] == ["dqueue.errors.JobCancelled"]


def test_an_unknown_result_id_does_not_exist() -> None:
    with pytest.raises(TaskResultDoesNotExist):
        default_task_backend.get_result("0" * 32)


def test_a_result_of_another_task_is_a_mismatch() -> None:
    result = django_tasks.explode.enqueue("x")

    with pytest.raises(TaskResultMismatch):
        django_tasks.add.get_result(result.id)


def test_signals_are_sent_at_enqueue_and_around_the_run() -> None:
    result = django_tasks.add.enqueue(1, 2)
    assert [value.split(":")[1] for value in signals("task_enqueued")] == ["READY"]

    run_queue()

    assert [value.split(":")[:3] for value in signals("task_started")] == [
        [result.id, "RUNNING", "DQueueTaskBackend"]
    ]
    assert [value.split(":")[:2] for value in signals("task_finished")] == [
        [result.id, "SUCCESSFUL"]
    ]


def test_enqueue_on_commit_holds_the_job_until_the_transaction_commits(
    memory_backend: Backends,
) -> None:
    tasks = {
        "default": {
            "BACKEND": "dqueue_django.tasks_backend.DQueueTaskBackend",
            "OPTIONS": {"ENQUEUE_ON_COMMIT": True},
        }
    }
    with override_settings(TASKS=tasks):
        with transaction.atomic():
            django_tasks.add.enqueue(1, 2)
            assert memory_backend("default").length("default") == 0
            assert signals("task_enqueued") == []
        assert memory_backend("default").length("default") == 1
        assert len(signals("task_enqueued")) == 1


def test_by_default_a_django_task_is_enqueued_at_once_inside_a_transaction(
    memory_backend: Backends,
) -> None:
    with transaction.atomic():
        django_tasks.add.enqueue(1, 2)
        assert memory_backend("default").length("default") == 1


def test_the_backend_check_reports_unknown_options() -> None:
    tasks = {
        "default": {
            "BACKEND": "dqueue_django.tasks_backend.DQueueTaskBackend",
            "OPTIONS": {"MAX_ATEMPTS": 3},
        }
    }
    with override_settings(TASKS=tasks):
        messages = task_backends["default"].check()

    assert [message.id for message in messages] == ["dqueue_django.E010"]
    assert "MAX_ATEMPTS" in messages[0].msg
