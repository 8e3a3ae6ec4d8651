"""A backend for Django's Tasks framework (``django.tasks``) that runs tasks on dqueue.

``TASKS = {"default": {"BACKEND": "dqueue_django.tasks_backend.DQueueTaskBackend"}}``: each
enqueue becomes one dqueue job, named by the Django task's ``module_path``, on the queue named
by its ``queue_name``, stored by the dqueue backend that serves that queue; the job id is the
result id. ``queue_runner`` runs them like any other job (see :mod:`dqueue_django.tasks_runner`).
The capability flags follow the dqueue backends behind the alias's queues.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from django.core.checks import CheckMessage, Error
from django.utils import timezone

from dqueue.backends import backend_class, get_backend
from dqueue.backends.base import JobResult, JobStatus, control_of
from dqueue.enqueueing import send
from dqueue.errors import DQueueError
from dqueue.settings import Settings, get_settings

from .conf import current_settings
from .tasks_compat import (
    BaseTaskBackend,
    InvalidTask,
    Task,
    TaskResult,
    TaskResultDoesNotExist,
    normalize_json,
    task_enqueued,
)
from .tasks_runner import META_KEY, register_django_task, resolve_django_task, task_result
from .transactions import after_commit

__all__ = ["DQueueTaskBackend", "task_result_from_job_result"]

_OPTIONS = {"MAX_ATTEMPTS", "RESULT_TTL", "ENQUEUE_ON_COMMIT"}


def _capability(flag: str) -> Any:
    """A read-only flag: on when every dqueue backend behind the alias has ``flag``."""
    return property(lambda backend: backend._every_backend(flag))


def _normalised(
    args: Iterable[Any], kwargs: dict[str, Any]
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """The arguments as Django's own backends keep them: a tuple becomes a list, and so on.

    dqueue's ``@task`` refuses a tuple; a Django task takes what Django's Tasks take. Arguments
    that are not JSON are left for dqueue's check, whose message names the argument.
    """
    given = tuple(args)
    try:
        normal_args, normal_kwargs = normalize_json(list(given)), normalize_json(dict(kwargs))
    except (TypeError, ValueError):
        return given, dict(kwargs)
    if not isinstance(normal_args, list) or not isinstance(normal_kwargs, dict):
        return given, dict(kwargs)  # cannot happen: a list stays a list, a dict a dict
    return tuple(normal_args), normal_kwargs


class DQueueTaskBackend(BaseTaskBackend):
    """Django Tasks backend: tasks are dqueue jobs, run by ``manage.py queue_runner``.

    ``OPTIONS``: ``MAX_ATTEMPTS`` (runs before a failing task is FAILED, default 1, as Django's
    API has no retries), ``RESULT_TTL`` (seconds results are kept, default
    ``DQUEUE_RESULT_TTL``), ``ENQUEUE_ON_COMMIT`` (hold the job until the surrounding
    transaction commits; default ``False``, as Django documents enqueues to be immediate).
    """

    # -- capability flags, from the dqueue backends serving this alias's queues -------------------

    def _queues(self, settings: Settings) -> list[str]:
        return sorted(self.queues) or ["default", *sorted(settings.BACKEND_OVERRIDES)]

    def _every_backend(self, flag: str) -> bool:
        try:
            settings = current_settings()
            paths = {settings.backend_path(queue) for queue in self._queues(settings)}
            classes = [backend_class(path) for path in sorted(paths)]
        except DQueueError:
            # Settings that don't load are reported by `manage.py check` and refused by every
            # enqueue. Refusing a task's definition here instead would fail the import of the
            # project's task modules at start-up, before `check` could name the bad setting.
            return True
        if flag == "supports_results":
            return all(cls.supports_results and not cls.runs_inline for cls in classes)
        return all(bool(getattr(cls, flag)) for cls in classes)

    #: Tasks may have a ``run_after``: every dqueue backend behind this alias delays jobs.
    supports_defer = _capability("supports_delay")
    #: Priorities order execution: every dqueue backend behind this alias orders by it.
    supports_priority = _capability("supports_priority")
    #: Results can be read from any process: every dqueue backend behind it keeps them.
    supports_get_result = _capability("supports_results")
    #: Workers run coroutine functions through ``Task.call`` (``async_to_sync``).
    supports_async_task = True

    # -- validation -------------------------------------------------------------------------------

    def validate_task(self, task: Task[..., Any]) -> None:
        """Django's validation, accepting a ``timedelta`` ``run_after`` (relative to enqueue)."""
        run_after: object = task.run_after
        if isinstance(run_after, timedelta):
            if run_after < timedelta(0):
                raise InvalidTask("run_after must not be a negative timedelta.")
            if not self.supports_defer:
                raise InvalidTask("Backend does not support run_after.")
            # Validate everything else on a copy without the timedelta Django can't check.
            task = dataclasses.replace(task, run_after=None)
        super().validate_task(task)
        register_django_task(task)

    def check(self, **kwargs: Any) -> list[CheckMessage]:
        """Report unknown ``OPTIONS`` and dqueue backends that cannot be loaded."""
        messages: list[CheckMessage] = []
        unknown = sorted(set(self.options) - _OPTIONS)
        if unknown:
            messages.append(
                Error(
                    f"TASKS[{self.alias!r}]['OPTIONS'] has unknown option(s) {', '.join(unknown)}",
                    hint=f"dqueue's Tasks backend takes {', '.join(sorted(_OPTIONS))}.",
                    id="dqueue_django.E010",
                )
            )
        max_attempts = self.options.get("MAX_ATTEMPTS", 1)
        if isinstance(max_attempts, bool) or not isinstance(max_attempts, int) or max_attempts < 1:
            messages.append(
                Error(
                    f"TASKS[{self.alias!r}]['OPTIONS']['MAX_ATTEMPTS'] must be 1 or more",
                    id="dqueue_django.E010",
                )
            )
        return messages

    # -- enqueue ----------------------------------------------------------------------------------

    def enqueue(  # type: ignore[override]
        self, task: Task[..., Any], args: Iterable[Any], kwargs: dict[str, Any]
    ) -> TaskResult[..., Any]:
        """Store a job that runs ``task(*args, **kwargs)`` in a ``queue_runner`` worker."""
        self.validate_task(task)
        settings = get_settings()
        run_after: object = task.run_after
        if isinstance(run_after, timedelta):
            run_after = timezone.now() + run_after
        runner = register_django_task(task).using(
            queue=task.queue_name,
            priority=task.priority,
            max_attempts=int(self.options.get("MAX_ATTEMPTS", 1)),
            result_ttl=float(self.options.get("RESULT_TTL", settings.RESULT_TTL)),
            run_after=run_after if isinstance(run_after, datetime) else None,
            on_commit=False,
            meta={META_KEY: self.alias},
        )
        job = runner.build_job(*_normalised(args, kwargs))
        waiting = JobResult(
            job_id=job.id,
            status=JobStatus.QUEUED,
            enqueued_at=job.enqueued_at,
            args=job.args,
            kwargs=job.kwargs,
        )
        result = task_result(task, waiting, alias=self.alias)

        def store() -> None:
            send([job])
            task_enqueued.send(type(self), task_result=result)

        if self.options.get("ENQUEUE_ON_COMMIT", False):
            after_commit(store)
        else:
            store()
        return result

    # -- results ----------------------------------------------------------------------------------

    def get_result(self, result_id: str) -> TaskResult[..., Any]:
        """The result of the task enqueued as ``result_id``, from any process.

        Raises:
            TaskResultDoesNotExist: no dqueue backend behind this alias knows the id (never
                enqueued, or its result expired after ``RESULT_TTL``).
        """
        settings = get_settings()
        # One queue per dqueue backend: each store behind this alias is asked once.
        queues = {settings.backend_path(queue): queue for queue in self._queues(settings)}
        for queue in queues.values():
            try:
                info = control_of(get_backend(queue, settings=settings)).result(result_id)
            except DQueueError:
                continue
            if info is not None:
                return task_result_from_job_result(info, alias=self.alias)
        raise TaskResultDoesNotExist(result_id)


def task_result_from_job_result(info: JobResult, *, alias: str) -> TaskResult[..., Any]:
    """Translate what a dqueue backend knows of a job into a Django ``TaskResult``.

    Raises:
        TaskResultDoesNotExist: the job is not a Django task's.
    """
    task = resolve_django_task(info.task)
    if task is None:
        raise TaskResultDoesNotExist(f"{info.job_id} is not the id of a Django task's result")
    return task_result(task, info, alias=alias)
