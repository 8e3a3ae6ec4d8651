"""``CronExpression``: a parsed schedule, and the search for its next fire time.

The search jumps field by field (month, day, hour, minute, second) instead of scanning, and
maps wall times to instants by the DST rule of :mod:`dqueue_cron.expression`. Times here are
UTC epoch seconds (instants) and integer "wall seconds": the local date and time of a zone
counted as if it were UTC, so that wall-clock arithmetic is integer arithmetic. A wall time
names no instant in a spring-forward gap and two in a fall-back fold.
"""

from __future__ import annotations

import bisect
import calendar
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidCronEntry, InvalidSchedule

__all__ = [
    "SEARCH_YEARS",
    "CronExpression",
    "offset_at",
    "resolve_zone",
    "wall_datetime",
    "wall_seconds",
]

_EPOCH: Final = datetime(1970, 1, 1)  # the origin of wall seconds
#: How far apart two probes for an offset change are; tz data has no two changes closer.
_PROBE_STEP_S: Final = 86_400
#: A schedule that finds no fire time within this many years never fires (Feb 29 recurs
#: within 8 years even across 2100).
SEARCH_YEARS: Final = 12
#: The size of each unit the search jumps by, and of the unit above it, in seconds.
_UNIT_SECONDS: Final = {"hour": (3600, 86_400), "minute": (60, 3600), "second": (1, 60)}


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
    #: The minute or the hour field starts with ``*``: the schedule follows elapsed time across
    #: DST (Debian cron's "wildcard" jobs).
    follows_elapsed_time: bool = True
    text: str = ""

    def __str__(self) -> str:
        return self.text

    # -- matching ------------------------------------------------------------------------------

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
                moment = _jump(moment, "hour", ())  # no hour of this day: the next day
            elif moment.hour not in self.hours:
                moment = _jump(moment, "hour", self.hours)
            elif moment.minute not in self.minutes:
                moment = _jump(moment, "minute", self.minutes)
            elif moment.second not in self.seconds:
                moment = _jump(moment, "second", self.seconds)
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


def _jump(moment: datetime, unit: str, values: tuple[int, ...]) -> datetime:
    """The start of the next ``unit`` value in ``values``, or of the next larger unit if none."""
    size, above = _UNIT_SECONDS[unit]
    wall = wall_seconds(moment)
    start = wall - wall % above
    value = _next_value(values, getattr(moment, unit))
    return wall_datetime(start + above if value is None else start + value * size)


# -- wall time and instants ------------------------------------------------------------------


def resolve_zone(zone: str | tzinfo, *, entry: str | None = None) -> tzinfo:
    """The ``tzinfo`` for an IANA name (``"Europe/London"``) or a ``tzinfo`` itself.

    Raises:
        InvalidCronEntry: the name is not a known time zone (the message names ``entry``).
    """
    if isinstance(zone, tzinfo):
        return zone
    if not isinstance(zone, str) or not zone:
        raise InvalidCronEntry(f"{zone!r} is not a time zone name", entry=entry, field="timezone")
    try:
        return UTC if zone.upper() == "UTC" else ZoneInfo(zone)  # ZoneInfo caches its zones
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise InvalidCronEntry(
            f"{zone!r} is not a known time zone (use an IANA name such as 'Europe/London')",
            entry=entry,
            field="timezone",
        ) from exc


def offset_at(instant: float, zone: tzinfo) -> int:
    """The zone's UTC offset, in whole seconds, at ``instant``."""
    offset = datetime.fromtimestamp(instant, zone).utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def wall_seconds(moment: datetime) -> int:
    """The naive wall time ``moment`` as integer wall seconds (fractions dropped)."""
    return math.floor((moment.replace(tzinfo=None) - _EPOCH).total_seconds())


def wall_datetime(wall: int) -> datetime:
    """Integer wall seconds back to a naive datetime."""
    return _EPOCH + timedelta(seconds=wall)


def first_instant(wall: int, zone: tzinfo) -> int:
    """The instant a wall time stands for in a schedule that follows the wall clock.

    In a fold (the repeated hour) it is the first occurrence. In a gap (the skipped hour) it is
    the first valid instant after the gap, the moment the clocks change.
    """
    naive = wall_datetime(wall)
    # PEP 495: fold=0 is the first occurrence in a fold; in a gap, fold=0 reads the wall time
    # with the offset from before the change (giving an instant after it) and fold=1 with the
    # offset from after (an instant before).
    after = naive.replace(tzinfo=zone, fold=0).timestamp()
    if datetime.fromtimestamp(round(after), zone).replace(tzinfo=None) == naive:
        return round(after)
    before = naive.replace(tzinfo=zone, fold=1).timestamp()
    low, high = sorted((math.floor(before), math.ceil(after)))
    change = next_transition(low, high, zone)
    return high if change is None else change


def next_transition(start: float, end: float, zone: tzinfo) -> int | None:
    """The first whole second in ``(start, end]`` where the offset differs from ``start``'s.

    ``None`` when the offset is the same throughout. Offsets are probed a day apart and the
    change is then found by bisection, so a long span costs a few hundred probes at most per
    year of it.
    """
    if zone is UTC:
        return None
    base = offset_at(start, zone)
    previous = start
    probe = start
    while probe < end:
        probe = min(probe + _PROBE_STEP_S, end)
        if offset_at(probe, zone) != base:
            # Bisect (previous, probe]: offsets change on whole seconds.
            low, high = math.floor(previous), math.ceil(probe)
            while high - low > 1:
                middle = (low + high) // 2
                if offset_at(middle, zone) == base:
                    low = middle
                else:
                    high = middle
            return high
        previous = probe
    return None
