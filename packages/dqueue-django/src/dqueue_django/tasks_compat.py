"""The Django Tasks framework's classes: ``django.tasks`` (Django 6.0+) or the backport.

On Django 5.2 the ``django-tasks`` backport provides the same names under ``django_tasks``;
without either, importing this module raises ``ImproperlyConfigured`` saying what to install.
"""

from __future__ import annotations

import importlib.util
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


# Type checkers read Django's own modules; the backport has the same ones under another name.
if TYPE_CHECKING or importlib.util.find_spec("django.tasks") is not None:
    from django.tasks import Task, TaskContext, TaskResult, TaskResultStatus, task_backends
    from django.tasks.backends.base import BaseTaskBackend
    from django.tasks.base import TaskError
    from django.tasks.exceptions import InvalidTask, TaskResultDoesNotExist
    from django.tasks.signals import task_enqueued, task_finished, task_started
    from django.utils.json import normalize_json
elif importlib.util.find_spec("django_tasks") is not None:
    from django_tasks import TaskContext, TaskResult, TaskResultStatus, task_backends
    from django_tasks.backends.base import BaseTaskBackend
    from django_tasks.base import Task, TaskError
    from django_tasks.exceptions import InvalidTaskError as InvalidTask
    from django_tasks.exceptions import TaskResultDoesNotExist
    from django_tasks.signals import task_enqueued, task_finished, task_started
    from django_tasks.utils import normalize_json
else:
    raise ImproperlyConfigured(
        "dqueue_django.tasks_backend needs Django's Tasks framework: Django 6.0 or later, "
        "or the django-tasks backport (pip install django-tasks) on Django 5.2"
    )
