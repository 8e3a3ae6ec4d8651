"""System checks: ``manage.py check`` reports every bad ``DQUEUE_*`` setting by name.

Each message carries an id (``dqueue_django.E001`` to ``E006``, ``W001`` to ``W006``); the
README's "System checks" table says what each one means.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.apps import AppConfig
from django.core.checks import CheckMessage, Error, Warning

from dqueue.backends import backend_class, get_backend
from dqueue.errors import ConfigurationError
from dqueue.loading import import_string
from dqueue.ops import store_warnings
from dqueue.settings import Settings, environment_layer, suggest_name
from dqueue_cron.config import CronSettings

from .conf import DjangoSettings, django_layer, unknown_names

__all__ = ["DLQ_SETTINGS", "check_settings", "check_stores"]

DLQ_PREFIX = "LIGHTWEIGHT_QUEUE_"
_BACKEND_NOTE = (
    "name a dqueue backend: 'redis', 'reliable_redis', 'sqlite' or 'synchronous'; "
    "django_lightweight_queue.backends paths don't load"
)

#: django-lightweight-queue's settings (``LIGHTWEIGHT_QUEUE_<name>``): the dqueue setting that
#: replaces each (``None``: none), and what to change when moving its value over.
DLQ_SETTINGS: dict[str, tuple[str | None, str]] = {
    "WORKERS": ("DQUEUE_WORKERS", "the same totals for the whole pool"),
    "BACKEND": ("DQUEUE_BACKEND", _BACKEND_NOTE),
    "BACKEND_OVERRIDES": ("DQUEUE_BACKEND_OVERRIDES", _BACKEND_NOTE),
    "MIDDLEWARE": ("DQUEUE_MIDDLEWARE", "dqueue.middleware.LoggingMiddleware is the default"),
    "IGNORE_APPS": ("DQUEUE_IGNORE_APPS", ""),
    "LOGGER_FACTORY": ("DQUEUE_LOGGER_FACTORY", ""),
    "REDIS_HOST": ("DQUEUE_REDIS_HOST", "or one DQUEUE_REDIS_URL"),
    "REDIS_PORT": ("DQUEUE_REDIS_PORT", "or one DQUEUE_REDIS_URL"),
    "REDIS_PASSWORD": ("DQUEUE_REDIS_PASSWORD", "or one DQUEUE_REDIS_URL"),
    "REDIS_DATABASE": ("DQUEUE_REDIS_DATABASE", "or one DQUEUE_REDIS_URL"),
    "REDIS_PREFIX": (
        "DQUEUE_REDIS_PREFIX",
        "dqueue's keys differ from django-lightweight-queue's: drain the old queues first",
    ),
    "ENABLE_PROMETHEUS": ("DQUEUE_ENABLE_PROMETHEUS", "set DQUEUE_PROMETHEUS_ADDRESS too"),
    "PROMETHEUS_START_PORT": ("DQUEUE_PROMETHEUS_START_PORT", ""),
    "ATOMIC_JOBS": ("DQUEUE_ATOMIC_JOBS", ""),
    "SITE_URL": (None, "only django-lightweight-queue's debug-web backend read it"),
}


def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """Every problem with the ``DQUEUE_*`` settings, one message per problem."""
    layer = django_layer()
    messages: list[CheckMessage] = [*_typos(layer), *_dlq_leftovers()]
    value_errors = list(_bad_values(layer))
    messages.extend(value_errors)
    if value_errors:
        return messages  # the other checks need valid settings to mean anything
    settings = Settings.from_layers([environment_layer(), layer])
    messages.extend(_unloadable(settings))
    messages.extend(_cron_problems(settings))
    messages.extend(_idle_queues(settings))
    messages.extend(_unserved_queues(settings))
    messages.extend(_outbox_problems(settings))
    return messages


def check_stores(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """What puts the jobs of each configured store at risk (``manage.py check --deploy``).

    Deploy-only: it asks the stores (a Redis server's eviction policy, say), which an ordinary
    ``manage.py`` command must not wait for.
    """
    try:
        settings = Settings.from_layers([environment_layer(), django_layer()])
    except ConfigurationError:
        return []  # check_settings reports it
    found: list[CheckMessage] = []
    paths: set[str] = set()
    for queue in ["default", *sorted(settings.BACKEND_OVERRIDES)]:
        path = settings.backend_path(queue)
        if path in paths:
            continue
        paths.add(path)
        try:
            backend = get_backend(queue, settings=settings)
        except ConfigurationError:
            continue  # E002 says it
        found += [
            Warning(warning, obj=path, id="dqueue_django.W004")
            for warning in store_warnings(backend)
        ]
    return found


def _typos(layer: dict[str, Any]) -> list[CheckMessage]:
    return [
        Warning(
            f"{name} is not a dqueue setting; it is ignored.",
            hint=f"Did you mean {close}?"
            if (close := suggest_name(name))
            else "The dqueue-django README lists every setting.",
            obj=name,
            id="dqueue_django.W001",
        )
        for name in unknown_names(layer)
    ]


def _dlq_leftovers() -> list[CheckMessage]:
    from django.conf import settings

    found: list[CheckMessage] = []
    for name in sorted(name for name in dir(settings) if name.startswith(DLQ_PREFIX)):
        short = name.removeprefix(DLQ_PREFIX)
        unknown = (None, "django-lightweight-queue had no such setting either")
        replacement, note = DLQ_SETTINGS.get(short, unknown)
        if replacement is None:
            message = f"{name} is django-lightweight-queue's, ignored: dqueue has no replacement."
            hint = f"Delete it: {note}."
        else:
            message = f"{name} is django-lightweight-queue's, ignored: dqueue reads {replacement}."
            hint = f"Move its value to {replacement}" + (f" ({note})." if note else ".")
        found.append(Warning(message, hint=hint, obj=name, id="dqueue_django.W005"))
    return found


def _bad_values(layer: dict[str, Any]) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    for full_name, value in sorted(layer.items()):  # from_layers skips unknown names
        try:
            Settings.from_layers([{full_name: value}])
        except ConfigurationError as exc:
            found.append(Error(str(exc), obj=full_name, id="dqueue_django.E001"))
    if not found:
        try:
            Settings.from_layers([environment_layer(), layer])
        except ConfigurationError as exc:  # a value that is only bad in combination
            found.append(Error(str(exc), id="dqueue_django.E001"))
    return found


def _unloadable(settings: Settings) -> list[CheckMessage]:
    found: list[CheckMessage] = []
    overrides = sorted(settings.BACKEND_OVERRIDES.items())
    loads: list[tuple[Callable[..., object], str, str, str]] = [
        (backend_class, "DQUEUE_BACKEND", settings.BACKEND, "E002"),
        *(
            (backend_class, f"DQUEUE_BACKEND_OVERRIDES[{queue!r}]", path, "E002")
            for queue, path in overrides
        ),
        *((import_string, "DQUEUE_MIDDLEWARE", path, "E003") for path in settings.MIDDLEWARE),
        (import_string, "DQUEUE_LOGGER_FACTORY", settings.LOGGER_FACTORY, "E003"),
    ]
    for load, setting, path, code in loads:
        try:
            load(path, setting=setting)
        except ConfigurationError as exc:
            found.append(Error(str(exc), obj=setting, id=f"dqueue_django.{code}"))
    zone = settings.section(CronSettings).CRON_TIMEZONE
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        found.append(
            Error(
                f"DQUEUE_CRON_TIMEZONE = {zone!r} is not a known time zone",
                hint="Use an IANA name such as 'UTC' or 'Europe/London'.",
                obj="DQUEUE_CRON_TIMEZONE",
                id="dqueue_django.E004",
            )
        )
    return found


def _cron_problems(settings: Settings) -> list[CheckMessage]:
    from .discovery import cron_errors

    return [
        Error(message, obj=where, id="dqueue_django.E005")
        for where, message in cron_errors(settings)
    ]


def _idle_queues(settings: Settings) -> list[CheckMessage]:
    from .queues import used_queues

    used = used_queues(settings)
    return [
        Warning(
            f"DQUEUE_WORKERS configures queue {queue!r}, but no task, cron entry or Tasks "
            "backend uses it; its workers would wait for ever.",
            hint="Check the queue name for a typo, or remove it from DQUEUE_WORKERS.",
            obj="DQUEUE_WORKERS",
            id="dqueue_django.W002",
        )
        for queue, count in sorted(settings.WORKERS.items())
        if count > 0 and queue not in used
    ]


def _needs_workers(settings: Settings, queue: str) -> bool:
    """Whether jobs of ``queue`` wait for a worker: not when its backend runs them inline."""
    path = settings.backend_path(queue)
    setting = "DQUEUE_BACKEND" if path == settings.BACKEND else "DQUEUE_BACKEND_OVERRIDES"
    try:
        cls = backend_class(path, setting=setting)
    except ConfigurationError:
        return False  # E002 says it
    # The synchronous backend runs jobs at enqueue; memory can't be served by workers at all.
    return bool(getattr(cls, "supports_workers", False))


def _unserved_queues(settings: Settings) -> list[CheckMessage]:
    """Tasks, cron entries and Tasks backend queues the runners' pool gives no worker."""
    from .discovery import app_tasks, cron_entries
    from .queues import django_tasks_queues, pool_counts

    counts = pool_counts(settings)
    try:
        entries = [entry for entry in cron_entries(settings) if entry.enabled]
    except ConfigurationError:
        entries = []  # E005 says it
    default_queue = settings.section(CronSettings).CRON_QUEUE
    # Where cron runs each task: a task that cron runs on a served queue is a cron task, and
    # its own queue may well be one nobody serves on purpose.
    cron_served = {
        entry.task_name for entry in entries if counts.get(entry.queue or default_queue, 0) > 0
    }
    waiting = [
        (f"Task {task.name!r}", task.name, task.options.queue)
        for task in app_tasks()
        if task.name not in cron_served
    ]
    waiting += [
        (f"Cron entry {entry.name!r}", entry.name, entry.queue or default_queue)
        for entry in entries
    ]
    waiting += [
        ("The Tasks backend (a TASKS alias's QUEUES)", "TASKS", queue)
        for queue in sorted(django_tasks_queues())
    ]
    return [
        Warning(
            f"{what} sends its jobs to queue {queue!r}, which DQUEUE_WORKERS gives no worker; "
            "they would wait for ever.",
            hint=f"Give it workers in DQUEUE_WORKERS ({queue!r}: 1), or, if runners with "
            "--exact-configuration serve it elsewhere, add 'dqueue_django.W006' to "
            "SILENCED_SYSTEM_CHECKS.",
            obj=name,
            id="dqueue_django.W006",
        )
        for what, name, queue in waiting
        if counts.get(queue, 0) == 0 and _needs_workers(settings, queue)
    ]


def _outbox_problems(settings: Settings) -> list[CheckMessage]:
    if not settings.section(DjangoSettings).OUTBOX:
        return []
    from django.conf import settings as django_settings

    from .outbox import OutboxError, table_exists

    alias = settings.section(DjangoSettings).OUTBOX_DATABASE
    if alias not in django_settings.DATABASES:
        return [
            Error(
                f"DQUEUE_OUTBOX_DATABASE = {alias!r} is not a database in DATABASES",
                hint=f"Use one of: {', '.join(sorted(django_settings.DATABASES))}.",
                obj="DQUEUE_OUTBOX_DATABASE",
                id="dqueue_django.E006",
            )
        ]
    try:
        present = table_exists(alias)
    except OutboxError:
        return []  # no database at hand (an image build): nothing to say about its tables
    if present:
        return []
    return [
        Warning(
            f"DQUEUE_OUTBOX is on but database {alias!r} has no outbox table; enqueues inside "
            "transactions will fail.",
            hint="Run: manage.py migrate dqueue_django"
            + ("" if alias == "default" else f" --database={alias}"),
            obj="DQUEUE_OUTBOX",
            id="dqueue_django.W003",
        )
    ]
