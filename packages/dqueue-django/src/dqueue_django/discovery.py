"""What installed apps bring: their ``tasks`` modules and their ``cron.py`` files.

Only tasks defined in installed apps imply queues (a worker each unless ``DQUEUE_WORKERS``
says otherwise); a task imported from a module outside every installed app still runs, but does
not create a queue on its own (django-lightweight-queue issue #82).

A ``cron.py`` holds a ``CONFIG`` list, scheduled by dqueue-cron:

.. code-block:: python

    # myapp/cron.py
    CONFIG = [
        {"command": "clearsessions", "hours": "3", "minutes": "0"},
        {"command": "send_digest", "schedule": "*/15 9-17 * * mon-fri", "queue": "mail"},
        {"task": "myapp.tasks.rebuild_index", "schedule": "@hourly"},
    ]

A ``command`` entry runs the management command through the task
``dqueue_django.tasks.run_command`` (``call_command(command, *command_args,
**command_kwargs)``). ``DQUEUE_CRON`` entries are loaded too, so a project may keep its schedule
in settings instead. Entry names (the command or task name by default) must be unique across
all apps: the name keys each slot's single run.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import apps
from django.utils.module_loading import module_has_submodule

from dqueue.errors import ConfigurationError
from dqueue.registry import REGISTRY, TaskRegistry
from dqueue.settings import Settings
from dqueue.task import Task
from dqueue_cron.config import CronSettings, check_unique_names, load_entries
from dqueue_cron.entry import CronEntry

from .conf import DjangoSettings

__all__ = [
    "COMMAND_TASK",
    "DJANGO_TASK_RUNNER_MARK",
    "INTERNAL_TASK_MODULE",
    "app_cron_configs",
    "app_modules",
    "app_task_queues",
    "app_tasks",
    "autodiscover_tasks",
    "cron_entries",
    "cron_errors",
    "cron_queues",
]

#: Set on the function of a dqueue task that runs a Django Tasks framework task, to that task:
#: such tasks get their queues from the ``TASKS`` setting, not from their defaults.
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


def app_tasks(registry: TaskRegistry = REGISTRY) -> list[Task[Any, Any]]:
    """The tasks defined in installed apps, by name.

    dqueue-django's own tasks and the runners of Django Tasks framework tasks are left out.
    """
    found: list[Task[Any, Any]] = []
    for task in filter(None, map(registry.get, sorted(registry.names()))):
        module = getattr(task.fn, "__module__", "") or ""
        if module == INTERNAL_TASK_MODULE or hasattr(task.fn, DJANGO_TASK_RUNNER_MARK):
            continue
        if apps.get_containing_app_config(module) is not None:
            found.append(task)
    return found


def app_task_queues(registry: TaskRegistry = REGISTRY) -> set[str]:
    """The queues that tasks defined in installed apps default to (see :func:`app_tasks`)."""
    return {task.options.queue for task in app_tasks(registry)}


#: The task that ``command`` entries run.
COMMAND_TASK = "dqueue_django.tasks.run_command"


def app_cron_configs(ignore_apps: Iterable[str] = ()) -> list[tuple[str, Any]]:
    """``(module name, CONFIG)`` of every installed app with a ``cron.py``.

    Raises:
        ConfigurationError: an app's ``cron.py`` fails to import, or has no ``CONFIG``.
    """
    found: list[tuple[str, Any]] = []
    for name in app_modules("cron", ignore_apps):
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            problem = f"{type(exc).__name__}: {exc}"
            raise ConfigurationError(f"{name} failed to import: {problem}") from exc
        if not hasattr(module, "CONFIG"):
            raise ConfigurationError(f"{name} has no CONFIG list")
        found.append((name, module.CONFIG))
    return found


def _load(where: str, config: Any) -> list[CronEntry]:
    label = where if where == "DQUEUE_CRON" else f"{where} CONFIG"
    return load_entries(config, where=label, command_task=COMMAND_TASK)


def cron_entries(settings: Settings) -> list[CronEntry]:
    """Every cron entry: ``DQUEUE_CRON``, then each app's ``cron.py``, in app order.

    Raises:
        ConfigurationError: an entry is malformed (the message names it and its field), two
            entries share a name, or a ``cron.py`` cannot be loaded.
    """
    entries = _load("DQUEUE_CRON", settings.section(CronSettings).CRON)
    for module, config in app_cron_configs(settings.section(DjangoSettings).IGNORE_APPS):
        entries.extend(_load(module, config))
    check_unique_names(entries)
    return entries


def cron_errors(settings: Settings) -> list[tuple[str, str]]:
    """``(where, message)`` for each problem with the cron configuration (for the checks)."""
    problems: list[tuple[str, str]] = []
    entries: list[CronEntry] = []
    sources = [("DQUEUE_CRON", settings.section(CronSettings).CRON)]
    try:
        sources += app_cron_configs(settings.section(DjangoSettings).IGNORE_APPS)
    except ConfigurationError as exc:
        problems.append(("cron.py", str(exc)))
    for where, config in sources:
        try:
            entries += _load(where, config)
        except ConfigurationError as exc:
            problems.append((where, str(exc) if where == "DQUEUE_CRON" else f"{where}: {exc}"))
    if not problems:
        try:
            check_unique_names(entries)
        except ConfigurationError as exc:
            problems.append(("cron", str(exc)))
    return problems


def cron_queues(settings: Settings, entries: Sequence[CronEntry] | None = None) -> set[str]:
    """The queues that enabled cron entries send jobs to.

    ``entries`` defaults to :func:`cron_entries` (no queue at all when the config is bad).
    """
    if entries is None:
        try:
            entries = cron_entries(settings)
        except ConfigurationError:
            return set()
    default = settings.section(CronSettings).CRON_QUEUE
    return {entry.queue or default for entry in entries if entry.enabled}
