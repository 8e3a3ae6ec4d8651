"""Parsing schedules: cron strings (five or six fields, nicknames) and the field dictionary.

See :mod:`dqueue_cron.expression` for the syntax; every error names the entry and the field.
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from typing import Any, Final

from . import fields as f
from .errors import InvalidSchedule
from .schedule import CronExpression

__all__ = ["NICKNAMES", "SCHEDULE_KEYS", "parse_cron", "parse_fields", "parse_schedule"]

NICKNAMES: Final = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
#: The schedule keys of the field dictionary, in the order its display text names them.
SCHEDULE_KEYS: Final = ("seconds", "minutes", "hours", "days", "days_of_month", "months")
#: The dictionary's fields in the order of a six-field cron string, with their defaults.
_DICTIONARY_FIELDS: Final = (
    ("seconds", f.SECOND, "0"),
    ("minutes", f.MINUTE, "*"),
    ("hours", f.HOUR, "*"),
    ("days_of_month", f.DAY_OF_MONTH, "*"),
    ("months", f.MONTH, "*"),
    ("days", f.ISO_WEEKDAY, "*"),
)


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
    if len(parts) == 5:
        parts.insert(0, "0")
    specs = (f.SECOND, f.MINUTE, f.HOUR, f.DAY_OF_MONTH, f.MONTH, f.CRON_WEEKDAY)
    parsed = [f.parse_field(part, spec, entry=entry) for part, spec in zip(parts, specs, strict=True)]
    return _build(parsed, entry=entry, text=source, day_field=f.DAY_OF_MONTH.label)


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
    text = " ".join(f"{key}={spec[key]!r}" for key in SCHEDULE_KEYS if key in spec)
    parsed = [
        f.parse_field(spec.get(key, default), fieldspec, entry=entry, name=key)
        for key, fieldspec, default in _DICTIONARY_FIELDS
    ]
    return _build(parsed, entry=entry, text=text, day_field="days_of_month")


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


def _build(
    parsed: list[f.ParsedField], *, entry: str | None, text: str, day_field: str
) -> CronExpression:
    seconds, minutes, hours, days_of_month, months, weekdays = parsed
    expression = CronExpression(
        seconds=seconds.values,
        minutes=minutes.values,
        hours=hours.values,
        days_of_month=days_of_month.values,
        months=months.values,
        # Cron counts from Sunday (0, and 7 again), the dictionary's ISO days from Monday (1),
        # Python's weekday() from Monday (0): (day - 1) % 7 reads both.
        weekdays=tuple(sorted({(day - 1) % 7 for day in weekdays.values})),
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
