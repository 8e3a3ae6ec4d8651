"""Cron expressions, and the pure function that gives their next fire time.

Two ways to write a schedule, both parsed into a :class:`CronExpression`:

- a cron string: five fields ``minute hour day-of-month month day-of-week``
  (``"*/5 9-17 * * mon-fri"``), six with seconds first (``"*/2 * * * * *"``), or a nickname
  (``@hourly``, ``@daily``/``@midnight``, ``@weekly``, ``@monthly``, ``@yearly``/``@annually``);
- django-lightweight-queue's field dictionary (``{"minutes": "0, 30", "hours": "*", "days":
  "mon-fri"}``), extended with ``seconds``, ``days_of_month`` and ``months``. Its ``days`` are
  ISO weekdays (1 is Monday, 7 is Sunday), where cron's day of week has 0 or 7 for Sunday.

When both the day of month and the day of week are restricted (neither starts with ``*``),
a day matches when *either* does, as in every cron since Vixie's.

Time zones and DST (see :func:`next_fire_time`): a schedule whose hour field is ``*`` (or
``*/n``) follows elapsed time and fires at every matching instant, so ``*/15 * * * *`` keeps
firing every 15 minutes through both changes. Any other schedule follows the wall clock: a time
in the skipped hour fires once, at the first instant after the gap (a 02:30 job fires at 03:00
on the spring-forward day), and a time in the repeated hour fires once, at its first occurrence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from datetime import datetime, tzinfo
from typing import Any

from dqueue.clock import to_epoch

from .parsing import NICKNAMES, SCHEDULE_KEYS, parse_cron, parse_fields, parse_schedule
from .schedule import SEARCH_YEARS, CronExpression, resolve_zone

__all__ = [
    "NICKNAMES",
    "SCHEDULE_KEYS",
    "CronExpression",
    "fire_times",
    "last_instant_before",
    "next_fire_time",
    "parse_cron",
    "parse_fields",
    "parse_schedule",
    "previous_fire_time",
]


def _instant(moment: datetime | float) -> float:
    if isinstance(moment, datetime):
        return to_epoch(moment)
    return float(moment)


def next_fire_time(
    schedule: CronExpression | str | Mapping[str, Any],
    after: datetime | float,
    tz: str | tzinfo = "UTC",
) -> datetime:
    """The first fire time of ``schedule`` strictly after ``after``, in time zone ``tz``.

    ``after`` is an aware datetime or UTC epoch seconds; the result is an aware datetime in
    ``tz`` (an IANA name, UTC by default). Across DST changes (see the module docstring): a
    schedule with a ``*`` hour follows elapsed time; any other follows the wall clock, firing
    once at the end of a skipped hour for the times in it, and once, at the first occurrence,
    for times in a repeated hour.

    Raises:
        InvalidSchedule: the schedule is malformed, or the zone unknown.
        ValueError: ``after`` is a naive datetime.
    """
    zone = resolve_zone(tz)
    expression = parse_schedule(schedule)
    return datetime.fromtimestamp(expression.next_instant(_instant(after), zone), zone)


def fire_times(
    schedule: CronExpression | str | Mapping[str, Any],
    after: datetime | float,
    tz: str | tzinfo = "UTC",
) -> Iterator[datetime]:
    """Every fire time strictly after ``after``, in order (an endless iterator)."""
    zone = resolve_zone(tz)
    expression = parse_schedule(schedule)
    instant = _instant(after)
    while True:
        fired = expression.next_instant(instant, zone)
        yield datetime.fromtimestamp(fired, zone)
        instant = fired


def previous_fire_time(
    schedule: CronExpression | str | Mapping[str, Any],
    before: datetime | float,
    tz: str | tzinfo = "UTC",
    *,
    not_before: datetime | float | None = None,
) -> datetime | None:
    """The last fire time strictly before ``before`` (and at or after ``not_before``).

    ``None`` when there is none in that span. Without ``not_before`` the search reaches back
    as far as :func:`next_fire_time` reaches forward.
    """
    zone = resolve_zone(tz)
    expression = parse_schedule(schedule)
    end = _instant(before)
    floor = _instant(not_before) if not_before is not None else end - SEARCH_YEARS * 366 * 86400
    found = last_instant_before(expression, end, zone, floor)
    return None if found is None else datetime.fromtimestamp(found, zone)


def last_instant_before(
    expression: CronExpression, end: float, zone: tzinfo, floor: float
) -> int | None:
    """The last fire instant in ``[floor, end)``, or ``None``.

    Searches windows reaching back 1 minute, then 8 times further each time, so that it walks
    forward over a handful of fire times rather than over the whole span.
    """
    reach = 60.0
    while True:
        start = max(end - reach, floor)
        last: int | None = None
        instant = expression.next_instant(math.ceil(start) - 0.5, zone)
        while instant < end:
            last = instant
            instant = expression.next_instant(instant, zone)
        if last is not None and last >= floor:
            return last
        if start <= floor:
            return None
        reach *= 8
