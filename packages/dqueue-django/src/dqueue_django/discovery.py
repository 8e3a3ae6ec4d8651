"""Finding tasks: import every installed app's ``tasks`` module, and the queues they imply.

Only tasks defined in installed apps imply queues (a worker each unless ``DQUEUE_WORKERS``
says otherwise); a task imported from a module outside every installed app still runs, but does
not create a queue on its own (django-lightweight-queue issue #82).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from dqueue.registry import REGISTRY, TaskRegistry

__all__ = [
    "DJANGO_TASK_RUNNER_MARK",
    "INTERNAL_TASK_MODULE",
    "app_modules",
    "app_task_queues",
    "autodiscover_tasks",
    "tasks_of_installed_apps",
]

#: Set on the function of a dqueue task that runs a Django Tasks framework task: such tasks get
#: their queues from the ``TASKS`` setting, not from their defaults.
DJANGO_TASK_RUNNER_MARK = "_dqueue_django_task_runner"

#: dqueue-django's own tasks (cron commands, Django Tasks) go wherever their caller sends them:
#: their default queue implies nothing.
INTERNAL_TASK_MODULE = "dqueue_django.tasks"


def app_modules(submodule: str, ignore_apps: Iterable[str] = ()) -> list[str]:
    """``<app>.<submodule>`` of every installed app that has one, except ``ignore_apps``.

    ``ignore_apps`` (``DQUEUE_IGNORE_APPS``) names apps by module path or by label.
    """
    ignore = set(ignore_apps)
    return [
        f"{config.name}.{submodule}"
        for config in apps.get_app_configs()
        if not ignore & {config.name, config.label}
        and config.module is not None
        and module_has_submodule(config.module, submodule)
    ]


def autodiscover_tasks(ignore_apps: Iterable[str] = ()) -> list[str]:
    """Import ``<app>.tasks`` for every installed app not ignored; return the modules imported.

    Raises:
        ImportError: an app's ``tasks`` module exists but fails to import (an app without one
            is fine).
    """
    names = app_modules("tasks", ignore_apps)
    for name in names:
        importlib.import_module(name)
    return names


def tasks_of_installed_apps(registry: TaskRegistry = REGISTRY) -> list[Any]:
    """Registered tasks whose function lives in an installed app.

    dqueue-django's own tasks and the runners of Django Tasks framework tasks are left out.
    """
    found = []
    for name in registry.names():
        task = registry.get(name)
        if task is None:
            continue
        module = getattr(task.fn, "__module__", "") or ""
        if module == INTERNAL_TASK_MODULE or getattr(task.fn, DJANGO_TASK_RUNNER_MARK, False):
            continue
        if apps.get_containing_app_config(module) is not None:
            found.append(task)
    return found


def app_task_queues(registry: TaskRegistry = REGISTRY) -> set[str]:
    """The queues that tasks of installed apps default to."""
    return {task.options.queue for task in tasks_of_installed_apps(registry)}
