"""The Django app: ``INSTALLED_APPS += ["dqueue_django"]``."""

from __future__ import annotations

import contextlib
from typing import Any

from django.apps import AppConfig
from django.core.checks import register
from django.core.signals import setting_changed

from dqueue import settings as dqueue_settings
from dqueue.enqueueing import set_dispatcher
from dqueue.errors import ConfigurationError
from dqueue.execution import add_call_wrapper
from dqueue.loading import import_task_modules
from dqueue.settings import PREFIX

from . import transactions
from .checks import check_settings, check_stores
from .conf import django_layer, project_folder, set_installed
from .discovery import autodiscover_tasks

__all__ = ["DQueueConfig", "install", "uninstall"]


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith(PREFIX):
        dqueue_settings.invalidate_settings()


def install() -> None:
    """Put Django in charge of dqueue: settings layer, on-commit dispatcher, atomic tasks.

    Idempotent. ``ready()`` calls it; tests that reset dqueue's state call it again.
    """
    # A bad value must not stop Django from starting: `manage.py check` reports it
    # (dqueue_django.E001), and every command that needs the settings says it again.
    with contextlib.suppress(ConfigurationError):
        dqueue_settings.configure(framework=django_layer, framework_folder=project_folder)
    set_dispatcher(transactions.dispatch_on_commit)
    # Transactions and connections belong to a thread: an async task's ORM calls run in
    # sync_to_async's threads, which these cannot reach, so async tasks are left out of them
    # (and may run concurrently, DQUEUE_ASYNC_CONCURRENCY).
    add_call_wrapper(transactions.atomic_call, wraps_coroutines=False)  # innermost: added first
    add_call_wrapper(transactions.job_scope, wraps_coroutines=False)
    setting_changed.connect(_settings_changed, dispatch_uid="dqueue_django.settings_changed")
    set_installed(True)


def uninstall() -> None:
    """Undo :func:`install`: plain dqueue again (the wrappers stay registered but step aside)."""
    set_installed(False)
    set_dispatcher(None)
    setting_changed.disconnect(dispatch_uid="dqueue_django.settings_changed")


class DQueueConfig(AppConfig):
    """Reads ``DQUEUE_*`` from Django's settings and finds every app's ``tasks`` module."""

    name = "dqueue_django"
    verbose_name = "dqueue"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        """Install the settings layer and hooks, register checks, import the tasks."""
        install()
        register(check_settings, "dqueue")
        register(check_stores, "dqueue", deploy=True)
        layer = django_layer()
        ignore_apps = layer.get(PREFIX + "IGNORE_APPS", ())
        if isinstance(ignore_apps, str) or not isinstance(ignore_apps, list | tuple):
            ignore_apps = ()  # the check reports the bad value
        autodiscover_tasks(ignore_apps)
        extra = layer.get(PREFIX + "TASKS", ())
        if isinstance(extra, list | tuple) and all(isinstance(item, str) for item in extra):
            import_task_modules(tuple(extra))
