"""Cron schedules for dqueue that run once per slot however many runners schedule them.

.. code-block:: python

    from dqueue_cron import CronEntry, next_fire_time

    CronEntry(schedule="*/5 9-17 * * mon-fri", task="myapp.tasks.poll")
    next_fire_time("30 2 * * *", after=datetime.now(UTC), tz="Europe/London")

See the README for the schedule syntax, entry options, catch-up policies and the guarantees.
"""

from __future__ import annotations

from ._version import __version__
from .config import CronSettings, entries_from_settings, load_entries
from .entry import CATCH_UP_POLICIES, CronEntry, entry_from_dict
from .errors import InvalidCronEntry, InvalidSchedule
from .expression import fire_times, next_fire_time, previous_fire_time
from .integration import describe_entries, scheduler_service, services_for
from .parsing import parse_cron, parse_fields, parse_schedule
from .schedule import CronExpression
from .scheduler import CronScheduler, SlotOutcome

__all__ = [
    "CATCH_UP_POLICIES",
    "CronEntry",
    "CronExpression",
    "CronScheduler",
    "CronSettings",
    "InvalidCronEntry",
    "InvalidSchedule",
    "SlotOutcome",
    "__version__",
    "describe_entries",
    "entries_from_settings",
    "entry_from_dict",
    "fire_times",
    "load_entries",
    "next_fire_time",
    "parse_cron",
    "parse_fields",
    "parse_schedule",
    "previous_fire_time",
    "scheduler_service",
    "services_for",
]
