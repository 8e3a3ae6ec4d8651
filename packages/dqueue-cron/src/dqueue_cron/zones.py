"""Wall-clock time in a time zone, and the instants it names across DST changes.

Times here are whole or fractional UTC epoch seconds (instants) and integer "wall seconds":
the local date and time of a zone counted as if it were UTC, so that wall-clock arithmetic is
integer arithmetic. A wall time names no instant in a spring-forward gap and two in a
fall-back fold.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from .errors import InvalidCronEntry

__all__ = [
    "first_instant",
    "next_transition",
    "offset_at",
    "resolve_zone",
    "wall_datetime",
    "wall_seconds",
]

_EPOCH: Final = datetime(1970, 1, 1)  # the origin of wall seconds
#: How far apart two probes for an offset change are; tz data has no two changes closer.
_PROBE_STEP_S: Final = 86_400


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
            return _bisect_change(previous, probe, base, zone)
        previous = probe
    return None


def _bisect_change(low: float, high: float, base: int, zone: tzinfo) -> int:
    """The first whole second in ``(low, high]`` whose offset is not ``base``."""
    lo = math.floor(low)  # offset(lo) == base (lo <= low, and nothing changed in between)
    hi = math.ceil(high)  # offset(hi) != base: changes happen on whole seconds
    while hi - lo > 1:
        middle = (lo + hi) // 2
        if offset_at(middle, zone) == base:
            lo = middle
        else:
            hi = middle
    return hi
