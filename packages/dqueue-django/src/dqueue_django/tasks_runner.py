"""The worker side of the Django Tasks backend.

Every Django task validated by :class:`~dqueue_django.tasks_backend.DQueueTaskBackend` (Django
validates a task when ``@task`` defines it) is also registered as a dqueue task under its own
``module_path`` (``myapp.tasks.send_mail``), so that its jobs name it and ``queue_status`` and
the dead letters show it. A worker knows the Django tasks of the modules it imports at start
(apps' ``tasks`` modules and ``DQUEUE_TASKS``), as it knows any task; a job naming another is
dead-lettered, and nothing is imported by a job's name.

A run does what Django's own backends do: send ``task_started``, call the function (with a
``TaskContext`` when the task takes one), normalise the return value to JSON inside the error
handling, send ``task_finished`` with SUCCESSFUL or FAILED.
"""

from __future__ import annotations

import logging
import traceback
from typing import Any

from django.utils import timezone

from dqueue import Task as DQueueTask
from dqueue.backends import get_backend
from dqueue.backends.base import JobResult, JobStatus, control_of
from dqueue.clock import to_datetime
from dqueue.errors import JobCancelled
from dqueue.execution import current_job
from dqueue.identity import process_identity
from dqueue.job import Job
from dqueue.registry import REGISTRY

from .discovery import DJANGO_TASK_RUNNER_MARK
from .tasks_compat import (
    Task,
    TaskContext,
    TaskError,
    TaskResult,
    TaskResultStatus,
    normalize_json,
    task_backends,
    task_finished,
    task_started,
)

__all__ = ["META_KEY", "register_django_task", "resolve_django_task", "task_result"]

_logger = logging.getLogger("dqueue.django.tasks")

#: The job's ``meta`` key holding the ``TASKS`` alias that enqueued it.
META_KEY = "django_tasks_backend"

#: The error of a cancelled job's result (``JobHandle.result()`` raises this class).
_CANCELLED_PATH = f"{JobCancelled.__module__}.{JobCancelled.__qualname__}"

_STATUSES = {
    JobStatus.QUEUED: TaskResultStatus.READY,
    JobStatus.RUNNING: TaskResultStatus.RUNNING,
    JobStatus.SUCCEEDED: TaskResultStatus.SUCCESSFUL,
    # A failed run with attempts left is "ready to be executed again", in Django's words.
    JobStatus.FAILED: TaskResultStatus.READY,
    JobStatus.DEAD: TaskResultStatus.FAILED,
    # Django's Tasks have no cancelled state; a cancelled job never succeeds, so it failed.
    JobStatus.CANCELLED: TaskResultStatus.FAILED,
}


def resolve_django_task(module_path: str) -> Task[..., Any] | None:
    """The Django task registered under ``module_path``, or ``None``; imports nothing."""
    runner = REGISTRY.get(module_path)
    found = getattr(runner.fn, DJANGO_TASK_RUNNER_MARK, None) if runner is not None else None
    return found if isinstance(found, Task) else None


def register_django_task(task: Task[..., Any]) -> DQueueTask[Any, Any]:
    """The dqueue task that runs ``task``, registered under its module path."""
    name = task.module_path
    existing = REGISTRY.get(name)
    if existing is not None and hasattr(existing.fn, DJANGO_TASK_RUNNER_MARK):
        return existing

    def run(*args: Any, **kwargs: Any) -> Any:
        return run_django_task_here(task, list(args), dict(kwargs))

    setattr(run, DJANGO_TASK_RUNNER_MARK, task)  # the mark is the Django task it runs
    run.__qualname__ = run.__name__ = task.name
    runner: DQueueTask[Any, Any] = DQueueTask(run, name=name)
    if existing is None:
        REGISTRY.register(runner)
    return runner


def run_django_task_here(task: Task[..., Any], args: list[Any], kwargs: dict[str, Any]) -> Any:
    """Run the Django ``task`` for the current job; return its JSON result.

    Raises:
        BaseException: whatever the task raised, after ``task_finished`` reported it.
    """
    job = current_job()
    alias = str((job.meta if job else {}).get(META_KEY, task.backend))
    sender = type(task_backends[alias])
    running = JobResult(
        job_id=job.id if job else "",
        status=JobStatus.RUNNING,
        enqueued_at=job.enqueued_at if job else None,
        started_at=timezone.now().timestamp(),
        attempt=job.attempt if job else 1,
        worker_ids=tuple(_known_worker_ids(job) or [process_identity()]),
        args=tuple(args),
        kwargs=kwargs,
    )
    result = task_result(task, running, alias=alias)
    task_started.send(sender=sender, task_result=result)
    try:
        if task.takes_context:
            raw = task.call(TaskContext(task_result=result), *args, **kwargs)
        else:
            raw = task.call(*args, **kwargs)
        value = normalize_json(raw)
    except KeyboardInterrupt:
        raise
    except BaseException as exc:
        kind = type(exc)
        result.errors.append(
            TaskError(
                exception_class_path=f"{kind.__module__}.{kind.__qualname__}",
                traceback="".join(traceback.format_exception(exc)),
            )
        )
        object.__setattr__(result, "status", TaskResultStatus.FAILED)
        object.__setattr__(result, "finished_at", timezone.now())
        task_finished.send(sender=sender, task_result=result)
        raise
    object.__setattr__(result, "status", TaskResultStatus.SUCCESSFUL)
    object.__setattr__(result, "finished_at", timezone.now())
    object.__setattr__(result, "_return_value", value)
    task_finished.send(sender=sender, task_result=result)
    return value


def _known_worker_ids(job: Job | None) -> list[str]:
    """The workers that the store says ran the job so far (informative: may be empty)."""
    if job is None:
        return []
    try:
        info = control_of(get_backend(job.queue)).result(job.id)
    except Exception:  # the ids are informative: a store hiccup must not fail the run
        _logger.debug("could not read the worker ids of %s", job.describe(), exc_info=True)
        return []
    return list(info.worker_ids) if info is not None else []


def task_result(task: Task[..., Any], info: JobResult, *, alias: str) -> TaskResult[..., Any]:
    """What dqueue knows of a job of ``task``, as a Django ``TaskResult``.

    Django counts attempts by their worker ids, one entry per attempt: a store lists each
    worker once, so a worker that ran the job again is repeated.
    """
    status = _STATUSES[info.status]
    started = to_datetime(info.started_at) if info.started_at is not None else None
    finished = None
    if status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED) and info.finished_at:
        finished = to_datetime(info.finished_at)
    worker_ids = list(info.worker_ids)
    errors = [
        TaskError(exception_class_path=failure.exception_type, traceback=failure.traceback)
        for failure in info.failures
    ]
    if info.status is JobStatus.CANCELLED:  # failed, as Django has no cancelled state: say why
        errors.append(TaskError(exception_class_path=_CANCELLED_PATH, traceback=""))
    result = TaskResult(
        task=task,
        id=info.job_id,
        status=status,
        enqueued_at=to_datetime(info.enqueued_at) if info.enqueued_at is not None else None,
        started_at=started,
        last_attempted_at=started,
        finished_at=finished,
        args=list(info.args),
        kwargs=dict(info.kwargs),
        backend=alias,
        errors=errors,
        worker_ids=worker_ids + worker_ids[-1:] * (info.attempt - len(worker_ids)),
    )
    if status == TaskResultStatus.SUCCESSFUL:
        object.__setattr__(result, "_return_value", info.return_value)
    return result
