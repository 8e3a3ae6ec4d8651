"""The Django Tasks framework's classes: ``django.tasks`` (Django 6.0+) or the backport.

On Django 5.2 the ``django-tasks`` backport provides the same names under ``django_tasks``;
without either, importing this module raises ``ImproperlyConfigured`` saying what to install.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import TYPE_CHECKING

from django.core.exceptions import ImproperlyConfigured

__all__ = [
    "BaseTaskBackend",
    "InvalidTask",
    "Task",
    "TaskContext",
    "TaskError",
    "TaskResult",
    "TaskResultDoesNotExist",
    "TaskResultStatus",
    "normalize_json",
    "task_backends",
    "task_enqueued",
    "task_finished",
    "task_started",
]


def _load(name: str) -> ModuleType | None:
    for package in ("django.tasks", "django_tasks"):
        try:
            return importlib.import_module(f"{package}{name}")
        except ImportError:
            continue
    return None


if TYPE_CHECKING:
    from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
else:
    _root = _load("")
    if _root is None:
        raise ImproperlyConfigured(
            "dqueue_django.tasks_backend needs Django's Tasks framework: Django 6.0 or later, "
            "or the django-tasks backport (pip install django-tasks) on Django 5.2"
        )
    Task = _root.Task
    TaskContext = _root.TaskContext
    TaskResult = _root.TaskResult
    TaskResultStatus = _root.TaskResultStatus
    task_backends = _root.task_backends
    BaseTaskBackend = _load(".backends.base").BaseTaskBackend
    TaskError = _load(".base").TaskError
    _exceptions = _load(".exceptions")
    InvalidTask = _exceptions.InvalidTask
    TaskResultDoesNotExist = _exceptions.TaskResultDoesNotExist
    _signals = _load(".signals")
    task_enqueued = _signals.task_enqueued
    task_finished = _signals.task_finished
    task_started = _signals.task_started
    try:
        from django.utils.json import normalize_json
    except ImportError:  # Django 5.2: the backport carries its own
        normalize_json = _load(".utils").normalize_json
