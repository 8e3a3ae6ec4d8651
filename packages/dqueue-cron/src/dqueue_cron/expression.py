"""The pure functions over schedules: their next, every and previous fire times.

A schedule is a cron string or django-lightweight-queue's field dictionary (see
:mod:`dqueue_cron.parsing`). Across DST changes it follows Debian's cron: a schedule whose
minute or hour field starts with ``*`` (a "wildcard" job) follows elapsed time, firing at every
instant whose local time matches, so ``*/15 1 * * *`` fires in both passes of a repeated hour
and not in a skipped one. Any other (a "fixed-time" job) follows the wall clock: a time in the
skipped hour fires once, at the first instant after the gap (a 02:30 job fires at 03:00 on the
spring-forward day), and a time in the repeated hour fires once, at its first occurrence.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, tzinfo

from dqueue.clock import to_epoch

from .parsing import Schedule, parse_schedule
from .schedule import SEARCH_YEARS, CronExpression, resolve_zone

__all__ = ["fire_times", "last_instant_before", "next_fire_time", "previous_fire_time"]


def _instant(moment: datetime | float) -> float:
    return to_epoch(moment) if isinstance(moment, datetime) else float(moment)


def next_fire_time(
    schedule: Schedule, after: datetime | float, tz: str | tzinfo = "UTC"
) -> datetime:
    """The first fire time of ``schedule`` strictly after ``after``, in time zone ``tz``.

    ``after`` is an aware datetime or UTC epoch seconds; the result is an aware datetime in
    ``tz`` (an IANA name, UTC by default), by the DST rule of the module docstring.

    Raises:
        InvalidSchedule: the schedule is malformed, or the zone unknown.
        ValueError: ``after`` is a naive datetime.
    """
    return next(fire_times(schedule, after, tz))


def fire_times(
    schedule: Schedule, after: datetime | float, tz: str | tzinfo = "UTC"
) -> Iterator[datetime]:
    """Every fire time strictly after ``after``, in order (an endless iterator)."""
    zone = resolve_zone(tz)
    expression = parse_schedule(schedule)
    instant = _instant(after)
    while True:
        instant = expression.next_instant(instant, zone)
        yield datetime.fromtimestamp(instant, zone)


def previous_fire_time(
    schedule: Schedule,
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
    end = _instant(before)
    floor = _instant(not_before) if not_before is not None else end - SEARCH_YEARS * 366 * 86400
    found = last_instant_before(parse_schedule(schedule), end, zone, floor)
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
