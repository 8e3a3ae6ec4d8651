"""Parsing schedules: cron strings (five or six fields, nicknames) and the field dictionary.

Each field of either format is parsed by :func:`parse_field`, given as a string (``"*/15"``,
``"1-5"``, ``"mon-fri"``, ``"0, 30"``), an int (``5``) or a list of either (``[0, 30]``). See
the README for the syntax; every error names the entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, TypeAlias

from .errors import InvalidSchedule
from .schedule import CronExpression

__all__ = [
    "NICKNAMES",
    "SCHEDULE_KEYS",
    "FieldSpec",
    "ParsedField",
    "Schedule",
    "parse_cron",
    "parse_field",
    "parse_fields",
    "parse_schedule",
]

#: Full names; a name is its first three letters or the full name (as cron, which knows only
#: the three-letter ones, no other prefix).
_MONTHS: Final = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_DAYS: Final = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


@dataclass(frozen=True, slots=True)
class FieldSpec:
    """How to read one field: its range, its names and what its numbers mean."""

    label: str
    low: int
    high: int
    names: Mapping[str, int] = field(default_factory=dict)
    #: ``L`` (the last day of the month) is allowed.
    allows_last: bool = False
    #: ``?`` is allowed as a synonym of ``*`` (the day fields, as in Quartz).
    allows_question_mark: bool = False
    #: A range that ends on this value and starts above it ends on ``high`` instead
    #: (cron's ``sat-sun`` is ``6-0``, read as ``6-7``).
    wrap_end: int | None = None


_ISO_DAYS: Final = {name: number for number, name in enumerate(_DAYS, start=1)}
SECOND: Final = FieldSpec("second", 0, 59)
MINUTE: Final = FieldSpec("minute", 0, 59)
HOUR: Final = FieldSpec("hour", 0, 23)
DAY_OF_MONTH: Final = FieldSpec("day of month", 1, 31, allows_last=True, allows_question_mark=True)
MONTH: Final = FieldSpec("month", 1, 12, names={name: n for n, name in enumerate(_MONTHS, 1)})
#: Cron's day of week: 0 and 7 are Sunday, 1 is Monday.
CRON_WEEKDAY: Final = FieldSpec(
    "day of week", 0, 7, {**_ISO_DAYS, "sunday": 0}, allows_question_mark=True, wrap_end=0
)
#: django-lightweight-queue's ``days``: ISO weekdays, 1 is Monday and 7 is Sunday.
ISO_WEEKDAY: Final = FieldSpec("days", 1, 7, _ISO_DAYS, allows_question_mark=True)


@dataclass(frozen=True, slots=True)
class ParsedField:
    """A field's matching numbers (sorted), and whether it restricts anything.

    ``restricted`` follows cron: a field written starting with ``*`` (``*``, ``*/2``, ``*,5``)
    or ``?`` is unrestricted, whatever follows. It decides the day-of-month / day-of-week rule and
    whether a schedule follows elapsed time across DST changes.
    """

    values: tuple[int, ...]
    restricted: bool
    last_day: bool = False


#: Builds the error for a problem with the field being parsed.
_Fail: TypeAlias = Callable[[str], InvalidSchedule]

_TERM = re.compile(
    r"""^(?:
        (?P<star>[*?])
      | (?P<start>[a-z0-9]+)(?:-(?P<end>[a-z0-9]+))?
    )(?:/(?P<step>[0-9]+))?$""",
    re.VERBOSE | re.ASCII,
)
#: Cron separates with spaces and tabs only (a no-break space is not a separator).
_SEPARATOR = re.compile(r"[ \t]*,[ \t]*")
_BLANKS: Final = " \t"


def parse_field(
    value: object, spec: FieldSpec, *, entry: str | None = None, name: str | None = None
) -> ParsedField:
    """Parse one field's ``value`` into the numbers it matches.

    ``name`` is how the error messages call the field (the dictionary key ``"hours"``, or the
    cron position ``"hour"``); it defaults to the spec's label.

    Raises:
        InvalidSchedule: the value is malformed or out of range; the message names ``entry``
            and the field.
    """

    def fail(problem: str) -> InvalidSchedule:
        return InvalidSchedule(problem, entry=entry, field=name or spec.label)

    if isinstance(value, int) and not isinstance(value, bool):
        return ParsedField((_check_value(value, spec, fail),), restricted=True)
    if isinstance(value, str):
        text = value.strip(_BLANKS).lower()
    elif isinstance(value, Iterable) and not isinstance(value, bool | bytes | Mapping):
        items = list(value)
        if not items:
            raise fail("is an empty list: use '*' for every value")
        for item in items:
            if not isinstance(item, int | str) or isinstance(item, bool):
                raise fail(f"list item {item!r} is not a number or a string")
        # A list is a comma list written another way.
        text = ",".join(str(item).strip(_BLANKS).lower() for item in items)
    else:
        raise fail(f"{value!r} is not a number, a string or a list")
    if not text:
        raise fail("is empty: use '*' for every value")
    if "?" in text and text != "?":
        raise fail("'?' stands alone: it means every value, like '*'")
    terms = _SEPARATOR.split(text)
    values: set[int] = set()
    for term in terms:
        if not term:
            raise fail(f"{text!r} has an empty item")
        if term != "l" or not spec.allows_last:
            values.update(_parse_term(term, spec, fail))
    return ParsedField(
        tuple(sorted(values)),
        restricted=not text.startswith(("*", "?")),
        last_day=spec.allows_last and "l" in terms,
    )


def _parse_term(term: str, spec: FieldSpec, fail: _Fail) -> range:
    match = _TERM.match(term)
    if match is None:
        raise fail(f"{term!r} is not a number, a name, a range (a-b) or a step (*/n, a-b/n)")
    star, start_text, end_text, step_text = match.group("star", "start", "end", "step")
    step = _integer(step_text, fail) if step_text is not None else 1
    if step < 1:
        raise fail(f"the step in {term!r} must be 1 or more")
    if star is not None:
        if star == "?" and not spec.allows_question_mark:
            raise fail("'?' is only allowed in the day fields")
        return range(spec.low, spec.high + 1, step)
    start = _number(start_text, spec, fail)
    if end_text is None:
        # "a/n" means from a to the end of the range, every n, as in Vixie cron.
        end = spec.high if step_text is not None else start
    else:
        end = _number(end_text, spec, fail)
        if end == spec.wrap_end and start > end:
            end = spec.high
    if end < start:
        raise fail(f"the range {term!r} runs backwards (from {start} down to {end})")
    return range(start, end + 1, step)


def _number(text: str, spec: FieldSpec, fail: _Fail) -> int:
    if text.isascii() and text.isdigit():
        return _check_value(_integer(text, fail), spec, fail)
    # "mon" and "monday", "jan" and "january", but not "mond", "janu" or "monkey"
    for name, number in spec.names.items():
        if text in (name, name[:3]):
            return number
    known = ", ".join(name[:3] for name in sorted(spec.names, key=spec.names.__getitem__))
    raise fail(f"{text!r} is not a number or a known name (names: {known or 'none'})")


def _integer(digits: str, fail: _Fail) -> int:
    # int() refuses a string of more than 4300 digits with a ValueError, and is slow before
    if len(digits.lstrip("0")) > 9:
        raise fail(f"{digits[:9]}... is too large")
    return int(digits)


def _check_value(value: int, spec: FieldSpec, fail: _Fail) -> int:
    if not spec.low <= value <= spec.high:
        raise fail(f"{value} is out of range {spec.low}-{spec.high}")
    return value


#: What an entry's ``schedule`` may be: a cron string, a field dictionary, or one parsed.
Schedule: TypeAlias = CronExpression | str | Mapping[str, Any]

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
#: The fields in the order of a six-field cron string, and the dictionary's keys for them.
_CRON_FIELDS: Final = (SECOND, MINUTE, HOUR, DAY_OF_MONTH, MONTH, CRON_WEEKDAY)
_DICTIONARY_KEYS: Final = ("seconds", "minutes", "hours", "days_of_month", "months", "days")


def parse_cron(text: str, *, entry: str | None = None) -> CronExpression:
    """Parse a cron string: five fields, six (seconds first), or a nickname.

    Raises:
        InvalidSchedule: the string is malformed or never fires; the message names ``entry``
            and the field.
    """
    if not isinstance(text, str):
        raise InvalidSchedule(f"{text!r} is not a cron string", entry=entry, field="schedule")
    source = text.strip(_BLANKS + "\r\n")
    expanded = source.lower()
    if expanded.startswith("@"):
        if expanded not in NICKNAMES:
            problem = f"{source!r} is not a known nickname (known: {', '.join(NICKNAMES)})"
            raise InvalidSchedule(problem, entry=entry, field="schedule")
        expanded = NICKNAMES[expanded]
    parts = re.split(r"[ \t]+", expanded)
    if len(parts) not in (5, 6):
        raise InvalidSchedule(
            f"{source!r} has {len(parts)} fields: expected 5 (minute hour day-of-month month "
            "day-of-week) or 6 (second first)",
            entry=entry,
            field="schedule",
        )
    if len(parts) == 5:
        parts.insert(0, "0")
    parsed = [
        parse_field(part, kind, entry=entry) for part, kind in zip(parts, _CRON_FIELDS, strict=True)
    ]
    return _build(parsed, entry=entry, text=source, day_field=DAY_OF_MONTH.label)


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
    specs = (*_CRON_FIELDS[:-1], ISO_WEEKDAY)  # the dictionary's days are ISO weekdays
    parsed = [
        parse_field(spec.get(key, "0" if key == "seconds" else "*"), kind, entry=entry, name=key)
        for key, kind in zip(_DICTIONARY_KEYS, specs, strict=True)
    ]
    return _build(parsed, entry=entry, text=text, day_field="days_of_month")


def parse_schedule(schedule: Schedule, *, entry: str | None = None) -> CronExpression:
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
    parsed: list[ParsedField], *, entry: str | None, text: str, day_field: str
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
        # Debian cron's "wildcard" jobs: a minute or hour field starting with * (see the README)
        follows_elapsed_time=not (minutes.restricted and hours.restricted),
        text=text,
    )
    try:  # a day that no chosen month has (February 30th): the search finds no fire time
        expression.next_wall_time(0)
    except InvalidSchedule as exc:
        raise InvalidSchedule(exc.problem, entry=entry, field=day_field) from exc
    return expression
