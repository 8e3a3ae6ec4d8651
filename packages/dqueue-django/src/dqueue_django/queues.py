"""Which queues exist under Django, and how many workers each gets in the pool.

A queue gets workers when ``DQUEUE_WORKERS`` names it, or (one worker, unless
``DQUEUE_WORKERS`` says otherwise) when something sends jobs to it by default:

- a task defined in an installed app (``@task(queue=...)``);
- a ``cron.py`` entry (its ``queue``, ``DQUEUE_CRON_QUEUE`` by default), in pooled runs only;
- a ``TASKS`` alias served by :class:`~dqueue_django.tasks_backend.DQueueTaskBackend`
  (its ``QUEUES``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dqueue.cli.control import Front
from dqueue.pool import queue_counts
from dqueue.registry import TaskRegistry
from dqueue.settings import Settings

from .discovery import app_task_queues

__all__ = ["django_tasks_queues", "front", "pool_counts", "used_queues"]


def django_tasks_queues() -> set[str]:
    """The ``QUEUES`` of every ``TASKS`` alias that dqueue's Tasks backend serves."""
    from django.conf import settings
    from django.utils.module_loading import import_string

    queues: set[str] = set()
    configured: dict[str, Any] = getattr(settings, "TASKS", {}) or {}
    for params in configured.values():
        try:
            from .tasks_backend import DQueueTaskBackend

            cls = import_string(params["BACKEND"])
        except Exception:  # Django's own checks report an unusable TASKS entry
            continue
        if isinstance(cls, type) and issubclass(cls, DQueueTaskBackend):
            queues.update(params.get("QUEUES", ["default"]))
    return queues


def used_queues(settings: Settings) -> set[str]:
    """Every queue that tasks, cron entries or the Tasks backend send jobs to by default."""
    from .cron_files import cron_queues

    return app_task_queues() | django_tasks_queues() | cron_queues(settings)


def pool_counts(settings: Settings) -> dict[str, int]:
    """Workers of every queue in the whole pool (``DQUEUE_WORKERS`` plus implied queues)."""
    return queue_counts(settings, sorted(used_queues(settings)), registry=TaskRegistry())


def front(settings: Settings, write: Callable[[str], object] = print) -> Front:
    """How Django's front ends (``manage.py queue_*``, the admin) find queues and read times.

    Only installed apps' tasks imply queues (they are in ``extra_queues``): hence the empty
    registry. A time without an offset is in Django's ``TIME_ZONE``.
    """
    from django.utils import timezone

    return Front(
        settings=settings,
        write=write,
        command="manage.py queue_{}",
        default_tz=timezone.get_current_timezone(),
        extra_queues=tuple(sorted(used_queues(settings))),
        registry=TaskRegistry(),
    )
