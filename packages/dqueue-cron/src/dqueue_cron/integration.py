"""What a runner asks of dqueue-cron: its services, its queues, and what is coming up.

The core CLI (``dqueue runner``, ``dqueue configuration``) finds :func:`scheduler_service`
through the entry point group ``dqueue.services``; dqueue-core never names this package.
Entries come from ``DQUEUE_CRON`` and from every source added with :func:`add_entry_source`
(dqueue-django adds the ``cron.py`` files of the installed apps), or are passed in explicitly.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from dqueue.clock import SYSTEM_CLOCK, Clock, to_epoch
from dqueue.services import Service
from dqueue.settings import Settings

from .config import CronSettings, check_unique_names, entries_from_settings
from .entry import CronEntry
from .scheduler import CronScheduler
from .zones import resolve_zone

__all__ = [
    "EntrySource",
    "UpcomingRuns",
    "add_entry_source",
    "configured_entries",
    "cron_queues",
    "describe_entries",
    "next_runs",
    "remove_entry_source",
    "render_entries",
    "scheduler_service",
    "services_for",
]

#: A function from the settings to more entries (dqueue-django's ``cron.py`` discovery).
EntrySource = Callable[[Settings], Sequence[CronEntry]]

_sources: list[EntrySource] = []
_sources_lock = threading.Lock()


def add_entry_source(source: EntrySource) -> None:
    """Add a source of entries that :func:`configured_entries` reads. Idempotent."""
    with _sources_lock:
        if source not in _sources:
            _sources.append(source)


def remove_entry_source(source: EntrySource) -> None:
    """Forget a source added with :func:`add_entry_source` (for tests)."""
    with _sources_lock:
        if source in _sources:
            _sources.remove(source)


def configured_entries(settings: Settings) -> list[CronEntry]:
    """Every entry: ``DQUEUE_CRON``, then each added source's.

    Raises:
        InvalidCronEntry: an entry is malformed, or two share a name.
        ConfigurationError: a dotted path in ``DQUEUE_CRON`` cannot be imported.
    """
    entries = entries_from_settings(settings)
    with _sources_lock:
        sources = list(_sources)
    for source in sources:
        entries.extend(source(settings))
    check_unique_names(entries)
    return entries


def services_for(
    settings: Settings,
    exact: bool,
    *,
    entries: Sequence[CronEntry] | None = None,
    clock: Clock = SYSTEM_CLOCK,
) -> list[Service]:
    """The services a runner hosts for cron: one scheduler, or none.

    None when the runner is exactly configured (``--exact-configuration`` runs no cron, as
    django-lightweight-queue's did) or no entry is enabled. ``entries`` defaults to
    :func:`configured_entries`.

    Raises:
        InvalidCronEntry: an entry is malformed, its task is not registered, or two share a
            name.
    """
    if exact:
        return []
    chosen = configured_entries(settings) if entries is None else list(entries)
    if not any(entry.enabled for entry in chosen):
        return []
    return [CronScheduler(chosen, settings=settings, clock=clock)]


def scheduler_service(settings: Settings) -> Service | None:
    """The cron scheduler of the configured entries, or ``None`` when none is enabled.

    Registered with the entry point group ``dqueue.services``: ``dqueue runner`` hosts it.

    Raises:
        InvalidCronEntry: an entry is malformed, its task is not registered, or two share a
            name.
    """
    services = services_for(settings, exact=False)
    return services[0] if services else None


def cron_queues(settings: Settings, entries: Sequence[CronEntry] | None = None) -> set[str]:
    """The queues enabled entries send jobs to, for ``dqueue.pool.queue_counts(extra_queues=)``.

    Each gets one worker in the pool unless ``DQUEUE_WORKERS`` says otherwise.
    """
    chosen = configured_entries(settings) if entries is None else entries
    default = settings.section(CronSettings).CRON_QUEUE
    return {entry.queue or default for entry in chosen if entry.enabled}


@dataclass(frozen=True, slots=True)
class UpcomingRuns:
    """An entry with its resolved queue and zone, and its next fire times (in that zone)."""

    entry: CronEntry
    queue: str
    timezone: str
    times: tuple[datetime, ...]


def next_runs(
    entries: Sequence[CronEntry],
    now: datetime | float,
    n: int = 1,
    *,
    settings: Settings,
) -> list[UpcomingRuns]:
    """The next ``n`` fire times of each entry after ``now`` (none for a disabled entry).

    For ``dqueue configuration`` and ``manage.py queue_configuration``.
    """
    instant = to_epoch(now) if isinstance(now, datetime) else float(now)
    cron = settings.section(CronSettings)
    upcoming: list[UpcomingRuns] = []
    for entry in entries:
        zone_name = entry.timezone or cron.CRON_TIMEZONE
        zone = resolve_zone(zone_name, entry=entry.name)
        times: list[datetime] = []
        after = instant
        for _ in range(n if entry.enabled else 0):
            after = entry.expression.next_instant(after, zone)
            times.append(datetime.fromtimestamp(after, zone))
        queue = entry.queue or cron.CRON_QUEUE
        upcoming.append(UpcomingRuns(entry, queue, zone_name, tuple(times)))
    return upcoming


def describe_entries(
    settings: Settings,
    now: datetime | float,
    *,
    entries: Sequence[CronEntry] | None = None,
) -> list[dict[str, Any]]:
    """JSON-ready rows, one per entry, with its next run: for ``dqueue configuration --json``.

    ``entries`` defaults to :func:`configured_entries`.
    """
    chosen = configured_entries(settings) if entries is None else entries
    rows: list[dict[str, Any]] = []
    catch_up = settings.section(CronSettings).CRON_CATCH_UP
    for upcoming in next_runs(chosen, now, settings=settings):
        entry = upcoming.entry
        rows.append(
            {
                "name": entry.name,
                "schedule": entry.expression.text,
                "task": entry.task_name,
                "queue": upcoming.queue,
                "timezone": upcoming.timezone,
                "catch_up": entry.catch_up or catch_up,
                "prevent_overlap": entry.prevent_overlap,
                "enabled": entry.enabled,
                "next_run": upcoming.times[0].isoformat() if upcoming.times else None,
            }
        )
    return rows


def render_entries(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of :func:`describe_entries` as text: a heading and one line per entry."""
    lines = ["Cron entries:"]
    if not rows:
        lines.append(" (none)")
    for row in rows:
        when = f"next {row['next_run']}" if row["enabled"] else "disabled"
        guard = ", no overlap" if row["prevent_overlap"] else ""
        lines.append(
            f" * {row['name']}: {row['schedule']} ({row['timezone']}) -> {row['task']} "
            f"on queue {row['queue']}, catch-up {row['catch_up']}{guard}; {when}"
        )
    return "\n".join(lines)
