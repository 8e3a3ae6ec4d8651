"""Which queues exist under Django, how many workers each gets, and what a runner runs here.

A queue gets workers when ``DQUEUE_WORKERS`` names it, or (one worker, unless
``DQUEUE_WORKERS`` says otherwise) when something sends jobs to it by default:

- a task defined in an installed app (``@task(queue=...)``);
- a ``cron.py`` entry (its ``queue``, ``DQUEUE_CRON_QUEUE`` by default), in pooled runs only;
- a ``TASKS`` alias served by :class:`~dqueue_django.tasks_backend.DQueueTaskBackend`
  (its ``QUEUES``).

The pool split is the core's (:mod:`dqueue.pool`); :func:`plan` feeds it these queues and
Django's cron entries (see :mod:`dqueue_django.discovery`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dqueue import ops
from dqueue.cli.control import Front
from dqueue.pool import RunnerPlan, WorkerSlot, queue_counts
from dqueue.registry import TaskRegistry
from dqueue.runner import WorkerCommand
from dqueue.settings import Settings
from dqueue_cron.entry import CronEntry

from .discovery import app_task_queues, cron_entries, cron_queues

__all__ = [
    "DjangoPlan",
    "django_tasks_queues",
    "front",
    "manage_command",
    "plan",
    "pool_counts",
    "used_queues",
    "worker_command",
]


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
    return app_task_queues() | django_tasks_queues() | cron_queues(settings)


def pool_counts(settings: Settings) -> dict[str, int]:
    """Workers of every queue in the whole pool (``DQUEUE_WORKERS`` plus implied queues)."""
    return queue_counts(settings, sorted(used_queues(settings)), registry=TaskRegistry())


def front(
    settings: Settings,
    write: Callable[[str], object] = print,
    *,
    terminal: bool = False,
    flush: Callable[[], object] = lambda: None,
    progress: Callable[[str], object] | None = None,
) -> Front:
    """How Django's front ends (``manage.py queue_*``, the admin) find queues and read times.

    Only installed apps' tasks imply queues (they are in ``extra_queues``): hence the empty
    registry. A time without an offset is in Django's ``TIME_ZONE``. ``terminal``, ``flush`` and
    ``progress``: whether ``write`` reaches a terminal, how to send it on, and where progress
    goes (see :class:`~dqueue.cli.control.Front`); by default no terminal and no progress.
    """
    from django.utils import timezone

    return Front(
        settings=settings,
        write=write,
        command="manage.py queue_{}",
        default_tz=timezone.get_current_timezone(),
        extra_queues=tuple(sorted(used_queues(settings))),
        registry=TaskRegistry(),
        terminal=terminal,
        flush=flush,
        progress=progress,
    )


@dataclass(frozen=True, slots=True)
class DjangoPlan:
    """A runner's plan, with the enabled cron entries it schedules (none when exact)."""

    runner: RunnerPlan
    entries: tuple[CronEntry, ...]


def plan(settings: Settings, options: ops.PlanOptions | None = None) -> DjangoPlan:
    """Decide what a runner started with these options runs here.

    Pooled: ``DQUEUE_WORKERS`` plus the queues of installed apps' tasks, of cron entries and
    of the Tasks backend, split over the machines; the runner schedules cron unless
    ``only_queue`` names a queue that no cron entry uses. Exact: ``DQUEUE_WORKERS`` as it is,
    every worker here, no cron.

    Raises:
        UsageError: options that don't go together (see :func:`dqueue.ops.plan`).
        ConfigurationError: an unknown ``only_queue``, or a bad cron entry.
    """
    options = options or ops.PlanOptions()
    # Only installed apps' tasks imply queues (they are in extra): hence the empty registry.
    if options.exact:
        return DjangoPlan(ops.plan(settings, options, registry=TaskRegistry()), ())
    entries = tuple(cron_entries(settings))
    cron = cron_queues(settings, entries)
    extra = sorted(used_queues(settings))
    runner = ops.plan(settings, options, extra_queues=extra, registry=TaskRegistry())
    only_queue = options.only_queue
    runs_cron = bool(cron) and (only_queue is None or only_queue in cron)
    runner = dataclasses.replace(runner, run_services=runs_cron)
    scheduled = tuple(entry for entry in entries if entry.enabled) if runs_cron else ()
    return DjangoPlan(runner, scheduled)


def manage_command() -> list[str]:
    """How to start another ``manage.py`` of this project: the argv up to the command name.

    ``python manage.py`` (absolute) when this process was started that way; otherwise
    ``python -m django --settings=...`` with this process's settings module.
    """
    script = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
    if script is not None and script.suffix == ".py" and script.is_file():
        return [sys.executable, str(script.resolve())]
    argv = [sys.executable, "-m", "django"]
    settings_module = os.environ.get("DJANGO_SETTINGS_MODULE")
    if settings_module:
        argv.append(f"--settings={settings_module}")
    return argv


def worker_command(
    *, config: str | None = None, touch_file: str | None = None, base: Sequence[str] | None = None
) -> WorkerCommand:
    """Workers as ``manage.py queue_worker QUEUE N``, with the runner's ``--config``."""
    prefix = list(base) if base is not None else manage_command()
    extra: list[str] = []
    if config:
        extra.append(f"--config={Path(config).resolve()}")
    if touch_file:
        extra.append(f"--touch-file={touch_file}")

    def command(slot: WorkerSlot) -> list[str]:
        return [*prefix, "queue_worker", slot.queue, str(slot.number), *extra]

    return command
