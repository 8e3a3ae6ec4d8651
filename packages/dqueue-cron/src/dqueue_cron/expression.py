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

import bisect
import calendar
import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any, Final

from dqueue.clock import to_epoch

from . import fields as f
from .errors import InvalidSchedule
from .zones import (
    first_instant,
    next_transition,
    offset_at,
    resolve_zone,
    wall_datetime,
    wall_seconds,
)

__all__ = [
    "NICKNAMES",
    "SCHEDULE_KEYS",
    "CronExpression",
    "fire_times",
    "next_fire_time",
    "parse_cron",
    "parse_fields",
    "parse_schedule",
    "previous_fire_time",
]

NICKNAMES: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: The schedule keys of the field dictionary, in the order they are checked.
SCHEDULE_KEYS: Final = ("seconds", "minutes", "hours", "days", "days_of_month", "months")
#: A schedule that finds no fire time within this many years never fires (Feb 29 recurs
#: within 8 years even across 2100).
_SEARCH_YEARS: Final = 12


@dataclass(frozen=True, slots=True)
class CronExpression:
    """A parsed schedule: the numbers each field matches. Build it with :func:`parse_schedule`.

    ``weekdays`` uses Python's numbering (``datetime.weekday()``: Monday is 0, Sunday 6),
    whichever way the schedule was written. ``text`` is the schedule as written, for display.
    """

    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    weekdays: tuple[int, ...]
    #: ``L`` in the day of month: the last day of each month matches.
    last_day_of_month: bool = False
    day_of_month_restricted: bool = False
    weekday_restricted: bool = False
    #: The hour field is ``*`` or ``*/n``: the schedule follows elapsed time across DST.
    follows_elapsed_time: bool = True
    text: str = ""

    def __str__(self) -> str:
        return self.text

    # -- matching ------------------------------------------------------------------------------

    def matches(self, wall: datetime) -> bool:
        """Whether the wall-clock time ``wall`` (naive, or aware read in its own zone) fires."""
        return (
            wall.second in self.seconds
            and wall.minute in self.minutes
            and wall.hour in self.hours
            and wall.month in self.months
            and self.day_matches(wall.year, wall.month, wall.day)
        )

    def day_matches(self, year: int, month: int, day: int) -> bool:
        """Whether the date matches the day of month and day of week (with cron's OR rule)."""
        by_month_day = day in self.days_of_month or (
            self.last_day_of_month and day == calendar.monthrange(year, month)[1]
        )
        by_weekday = calendar.weekday(year, month, day) in self.weekdays
        if self.day_of_month_restricted and self.weekday_restricted:
            return by_month_day or by_weekday
        return by_month_day and by_weekday

    # -- searching -----------------------------------------------------------------------------

    def next_wall_time(self, after: int) -> int:
        """The first matching wall time strictly after ``after`` (integer wall seconds).

        Jumps field by field (month, day, hour, minute, second) instead of scanning.

        Raises:
            InvalidSchedule: nothing matches within the search horizon (never fires).
        """
        moment = wall_datetime(after + 1)
        horizon = moment.year + _SEARCH_YEARS
        while moment.year <= horizon:
            if moment.month not in self.months:
                month = _next_value(self.months, moment.month)
                year = moment.year if month is not None else moment.year + 1
                moment = datetime(year, month or self.months[0], 1)
                continue
            if not self.day_matches(moment.year, moment.month, moment.day):
                moment = _start_of_day(moment) + timedelta(days=1)
                continue
            if moment.hour not in self.hours:
                hour = _next_value(self.hours, moment.hour)
                if hour is None:
                    moment = _start_of_day(moment) + timedelta(days=1)
                else:
                    moment = moment.replace(hour=hour, minute=0, second=0)
                continue
            if moment.minute not in self.minutes:
                minute = _next_value(self.minutes, moment.minute)
                if minute is None:
                    moment = moment.replace(minute=0, second=0) + timedelta(hours=1)
                else:
                    moment = moment.replace(minute=minute, second=0)
                continue
            if moment.second not in self.seconds:
                second = _next_value(self.seconds, moment.second)
                if second is None:
                    moment = moment.replace(second=0) + timedelta(minutes=1)
                else:
                    moment = moment.replace(second=second)
                continue
            return wall_seconds(moment)
        raise InvalidSchedule(f"{self.text!r} never fires")

    def next_instant(self, after: float, zone: tzinfo) -> int:
        """The first fire time strictly after the instant ``after``, as UTC epoch seconds."""
        if zone is UTC:
            return self.next_wall_time(math.floor(after))
        if self.follows_elapsed_time:
            return self._next_by_elapsed_time(after, zone)
        return self._next_by_wall_clock(after, zone)

    def _next_by_wall_clock(self, after: float, zone: tzinfo) -> int:
        # Reading each wall time as its first instant (gap: the end of the gap) keeps instants
        # in wall-time order, so the first candidate later than `after` is the answer.
        wall = math.floor(after + offset_at(after, zone))
        while True:
            wall = self.next_wall_time(wall)
            instant = first_instant(wall, zone)
            if instant > after:
                return instant

    def _next_by_elapsed_time(self, after: float, zone: tzinfo) -> int:
        # Walk spans of constant UTC offset: inside one, wall time and instants map one to
        # one, so the first matching wall time is the answer unless the offset changes first.
        lower, origin = after, after
        while True:
            offset = offset_at(origin, zone)
            candidate = self.next_wall_time(math.floor(lower + offset)) - offset
            change = next_transition(origin, candidate, zone)
            if change is None:
                return candidate
            origin, lower = change, change - 0.5  # resume at the change, inclusive


def _next_value(values: tuple[int, ...], current: int) -> int | None:
    index = bisect.bisect_left(values, current)
    return values[index] if index < len(values) else None


def _start_of_day(moment: datetime) -> datetime:
    return moment.replace(hour=0, minute=0, second=0)


# -- parsing -----------------------------------------------------------------------------------


def parse_cron(text: str, *, entry: str | None = None) -> CronExpression:
    """Parse a cron string: five fields, six (seconds first), or a nickname.

    Raises:
        InvalidSchedule: the string is malformed or never fires; the message names ``entry``
            and the field.
    """
    if not isinstance(text, str):
        raise InvalidSchedule(f"{text!r} is not a cron string", entry=entry, field="schedule")
    source = text.strip()
    expanded = source.lower()
    if expanded.startswith("@"):
        if expanded not in NICKNAMES:
            known = ", ".join(NICKNAMES)
            problem = f"{source!r} is not a known nickname (known: {known})"
            raise InvalidSchedule(problem, entry=entry, field="schedule")
        expanded = NICKNAMES[expanded]
    parts = expanded.split()
    if len(parts) not in (5, 6):
        raise InvalidSchedule(
            f"{source!r} has {len(parts)} fields: expected 5 (minute hour day-of-month month "
            "day-of-week) or 6 (second first)",
            entry=entry,
            field="schedule",
        )
    seconds_text = parts.pop(0) if len(parts) == 6 else "0"
    minute, hour, day, month, weekday = parts
    return _build(
        entry=entry,
        text=source,
        seconds=f.parse_field(seconds_text, f.SECOND, entry=entry),
        minutes=f.parse_field(minute, f.MINUTE, entry=entry),
        hours=f.parse_field(hour, f.HOUR, entry=entry),
        days_of_month=f.parse_field(day, f.DAY_OF_MONTH, entry=entry),
        months=f.parse_field(month, f.MONTH, entry=entry),
        weekdays=_cron_weekdays(f.parse_field(weekday, f.CRON_WEEKDAY, entry=entry)),
        day_field=f.DAY_OF_MONTH.label,
    )


def parse_fields(spec: Mapping[str, Any], *, entry: str | None = None) -> CronExpression:
    """Parse django-lightweight-queue's field dictionary, extended.

    Keys: ``seconds`` (default ``0``), ``minutes``, ``hours``, ``days`` (ISO weekdays 1-7),
    ``days_of_month`` and ``months`` (each ``*`` by default). Other keys are ignored (an
    entry's options live in the same dictionary). At least one key must be given, so that an
    entry without a schedule is an error rather than a job every minute.

    Raises:
        InvalidSchedule: a field is malformed or out of range; the message names ``entry``
            and the field (``cron entry 'cleanup': field 'hours': 25 is out of range 0-23``).
    """
    if not any(key in spec for key in SCHEDULE_KEYS):
        raise InvalidSchedule(
            "has no schedule: give 'schedule' (a cron string) or some of "
            + ", ".join(repr(key) for key in SCHEDULE_KEYS),
            entry=entry,
        )

    def field(key: str, fieldspec: f.FieldSpec, default: str = "*") -> f.ParsedField:
        return f.parse_field(spec.get(key, default), fieldspec, entry=entry, name=key)

    days = field("days", f.ISO_WEEKDAY)
    text = " ".join(f"{key}={spec[key]!r}" for key in SCHEDULE_KEYS if key in spec)
    return _build(
        entry=entry,
        text=text,
        seconds=field("seconds", f.SECOND, default="0"),
        minutes=field("minutes", f.MINUTE),
        hours=field("hours", f.HOUR),
        days_of_month=field("days_of_month", f.DAY_OF_MONTH),
        months=field("months", f.MONTH),
        weekdays=f.ParsedField(tuple(day - 1 for day in days.values), days.restricted),
        day_field="days_of_month",
    )


def parse_schedule(
    schedule: CronExpression | str | Mapping[str, Any], *, entry: str | None = None
) -> CronExpression:
    """A :class:`CronExpression` from a cron string, a field dictionary, or one already parsed.

    Raises:
        InvalidSchedule: the schedule is malformed; the message names ``entry``.
    """
    if isinstance(schedule, CronExpression):
        return schedule
    if isinstance(schedule, str):
        return parse_cron(schedule, entry=entry)
    if isinstance(schedule, Mapping):
        return parse_fields(schedule, entry=entry)
    raise InvalidSchedule(
        f"{schedule!r} is not a cron string or a field dictionary", entry=entry, field="schedule"
    )


def _cron_weekdays(parsed: f.ParsedField) -> f.ParsedField:
    # Cron counts from Sunday (0, and 7 again); Python's weekday() from Monday (0).
    return f.ParsedField(tuple(sorted({(day - 1) % 7 for day in parsed.values})), parsed.restricted)


def _build(
    *,
    entry: str | None,
    text: str,
    seconds: f.ParsedField,
    minutes: f.ParsedField,
    hours: f.ParsedField,
    days_of_month: f.ParsedField,
    months: f.ParsedField,
    weekdays: f.ParsedField,
    day_field: str,
) -> CronExpression:
    expression = CronExpression(
        seconds=seconds.values,
        minutes=minutes.values,
        hours=hours.values,
        days_of_month=days_of_month.values,
        months=months.values,
        weekdays=weekdays.values,
        last_day_of_month=days_of_month.last_day,
        day_of_month_restricted=days_of_month.restricted,
        weekday_restricted=weekdays.restricted,
        follows_elapsed_time=not hours.restricted,
        text=text,
    )
    _check_fires(expression, entry, day_field)
    return expression


def _check_fires(expression: CronExpression, entry: str | None, day_field: str) -> None:
    """Refuse a day of month that no chosen month has (``30 2``: February 30th)."""
    if expression.weekday_restricted and expression.day_of_month_restricted:
        return  # either matches, and every week has its weekdays
    if expression.last_day_of_month:
        return
    longest = max(calendar.monthrange(2024, month)[1] for month in expression.months)
    if min(expression.days_of_month) > longest:
        raise InvalidSchedule(
            f"never fires: no chosen month has day {min(expression.days_of_month)}",
            entry=entry,
            field=day_field,
        )


# -- the pure functions ------------------------------------------------------------------------


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
    floor = _instant(not_before) if not_before is not None else end - _SEARCH_YEARS * 366 * 86400
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
