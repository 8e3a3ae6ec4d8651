"""``CronExpression``: a parsed schedule, and the search for its next fire time.

Wall times are integer wall seconds (see :mod:`dqueue_cron.zones`). The search jumps field by
field (month, day, hour, minute, second) instead of scanning, and maps wall times to instants
by the DST rule of :mod:`dqueue_cron.expression`.
"""

from __future__ import annotations

import bisect
import calendar
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from .errors import InvalidSchedule
from .zones import first_instant, next_transition, offset_at, wall_datetime, wall_seconds

__all__ = ["SEARCH_YEARS", "CronExpression"]

#: A schedule that finds no fire time within this many years never fires (Feb 29 recurs
#: within 8 years even across 2100).
SEARCH_YEARS: Final = 12


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
        horizon = moment.year + SEARCH_YEARS
        while moment.year <= horizon:
            if moment.month not in self.months:
                month = _next_value(self.months, moment.month)
                year = moment.year if month is not None else moment.year + 1
                moment = datetime(year, month or self.months[0], 1)
            elif not self.day_matches(moment.year, moment.month, moment.day):
                moment = _truncate(moment, "hour") + timedelta(days=1)
            elif moment.hour not in self.hours:
                moment = _jump(moment, "hour", self.hours, timedelta(days=1))
            elif moment.minute not in self.minutes:
                moment = _jump(moment, "minute", self.minutes, timedelta(hours=1))
            elif moment.second not in self.seconds:
                moment = _jump(moment, "second", self.seconds, timedelta(minutes=1))
            else:
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


def _truncate(moment: datetime, unit: str) -> datetime:
    """``moment`` with ``unit`` and the units below it set to 0."""
    units = ("hour", "minute", "second")
    return moment.replace(**dict.fromkeys(units[units.index(unit) :], 0))


def _jump(moment: datetime, unit: str, values: tuple[int, ...], carry: timedelta) -> datetime:
    """The start of the next ``unit`` value in ``values``, or of the next ``carry`` if none."""
    value = _next_value(values, getattr(moment, unit))
    start = _truncate(moment, unit)
    return start + carry if value is None else start.replace(**{unit: value})
