"""``cron.py`` files: each installed app's ``CONFIG`` list, scheduled by dqueue-cron.

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

from dqueue.errors import ConfigurationError
from dqueue.settings import Settings
from dqueue_cron.config import CronSettings, check_unique_names, load_entries
from dqueue_cron.entry import CronEntry

from .conf import DjangoSettings
from .discovery import app_modules

__all__ = ["COMMAND_TASK", "app_cron_configs", "cron_entries", "cron_errors", "cron_queues"]

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
