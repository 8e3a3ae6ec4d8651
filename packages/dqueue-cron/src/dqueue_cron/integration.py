"""What a runner asks of dqueue-cron: its scheduler service and what is coming up.

The core CLI (``dqueue runner``, ``dqueue configuration``) finds :func:`scheduler_service`
through the entry point group ``dqueue.services``; dqueue-core never names this package.
Entries come from ``DQUEUE_CRON``, or are passed in explicitly (dqueue-django passes those of
the installed apps' ``cron.py`` files too).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from dqueue.services import Service
from dqueue.settings import Settings

from .config import entries_from_settings
from .entry import CronEntry
from .expression import next_fire_time
from .plan import EntryPlan
from .scheduler import CronScheduler

__all__ = ["describe_entries", "scheduler_service", "services_for"]


def services_for(
    settings: Settings, exact: bool, *, entries: Sequence[CronEntry] | None = None
) -> list[Service]:
    """The services a runner hosts for cron: one scheduler, or none.

    None when the runner is exactly configured (``--exact-configuration`` runs no cron, as
    django-lightweight-queue's did) or no entry is enabled. ``entries`` defaults to
    ``DQUEUE_CRON``'s.

    Raises:
        InvalidCronEntry: an entry is malformed, its task is not registered, or two share a
            name.
    """
    if exact:
        return []
    chosen = entries_from_settings(settings) if entries is None else list(entries)
    if not any(entry.enabled for entry in chosen):
        return []
    return [CronScheduler(chosen, settings=settings)]


def scheduler_service(settings: Settings) -> Service | None:
    """The cron scheduler of ``DQUEUE_CRON``'s entries, or ``None`` when none is enabled.

    Registered with the entry point group ``dqueue.services``: ``dqueue runner`` hosts it, and
    its queues get workers in the pool.

    Raises:
        InvalidCronEntry: an entry is malformed, its task is not registered, or two share a
            name.
    """
    services = services_for(settings, exact=False)
    return services[0] if services else None


def describe_entries(
    settings: Settings, now: datetime | float, *, entries: Sequence[CronEntry] | None = None
) -> list[dict[str, Any]]:
    """JSON-ready rows, one per entry, for a ``configuration`` command.

    Each has the entry's resolved queue and zone, and its next run in that zone (``None`` for a
    disabled entry). ``entries`` defaults to ``DQUEUE_CRON``'s.
    """
    rows: list[dict[str, Any]] = []
    for entry in entries_from_settings(settings) if entries is None else entries:
        plan = EntryPlan.build(entry, settings)
        next_run = next_fire_time(entry.expression, now, plan.zone)
        rows.append(
            {
                "name": entry.name,
                "schedule": entry.expression.text,
                "task": entry.task_name,
                "queue": plan.template.queue,
                "timezone": str(plan.zone),
                "catch_up": plan.catch_up,
                "prevent_overlap": entry.prevent_overlap,
                "enabled": entry.enabled,
                "next_run": next_run.isoformat() if entry.enabled else None,
            }
        )
    return rows
