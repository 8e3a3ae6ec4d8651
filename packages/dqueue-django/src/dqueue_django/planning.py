"""What ``queue_runner`` runs on this machine, and what ``queue_configuration`` shows.

The pool split is the core's (:mod:`dqueue.pool`); this module feeds it Django's queues (see
:mod:`dqueue_django.queues`) and Django's cron entries (see :mod:`dqueue_django.cron_files`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from dqueue import ops
from dqueue.pool import RunnerPlan, WorkerSlot
from dqueue.registry import TaskRegistry
from dqueue.runner import WorkerCommand
from dqueue.settings import Settings
from dqueue_cron.entry import CronEntry

from .cron_files import cron_entries, cron_queues
from .queues import used_queues

__all__ = ["DjangoPlan", "manage_command", "plan", "worker_command"]


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
