"""One field of a schedule: ``*``, values, lists, ranges, steps and names, as a set of numbers.

Both schedule formats (five- or six-field cron strings and the field dictionary of
django-lightweight-queue's ``cron.py``) parse each field here. A field is given as a string
(``"*/15"``, ``"1-5"``, ``"mon-fri"``, ``"0, 30"``), an int (``5``) or a list of either
(``[0, 30]``, ``["mon", "wed"]``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from .errors import InvalidSchedule

__all__ = [
    "CRON_WEEKDAY",
    "DAY_OF_MONTH",
    "HOUR",
    "ISO_WEEKDAY",
    "MINUTE",
    "MONTH",
    "SECOND",
    "FieldSpec",
    "ParsedField",
    "parse_field",
]

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
    #: Full names (``"monday"``) to numbers; a name may be shortened to 3 letters or more.
    names: Mapping[str, int] = field(default_factory=dict)
    #: ``L`` (the last day of the month) is allowed.
    allows_last: bool = False
    #: ``?`` is allowed as a synonym of ``*`` (the day fields, as in Quartz).
    allows_question_mark: bool = False
    #: A range that ends on this value and starts above it ends on ``high`` instead
    #: (cron's ``sat-sun`` is ``6-0``, read as ``6-7``).
    wrap_end: int | None = None


SECOND: Final = FieldSpec("second", 0, 59)
MINUTE: Final = FieldSpec("minute", 0, 59)
HOUR: Final = FieldSpec("hour", 0, 23)
DAY_OF_MONTH: Final = FieldSpec("day of month", 1, 31, allows_last=True, allows_question_mark=True)
MONTH: Final = FieldSpec("month", 1, 12, names={name: n for n, name in enumerate(_MONTHS, 1)})
#: Cron's day of week: 0 and 7 are Sunday, 1 is Monday.
CRON_WEEKDAY: Final = FieldSpec(
    "day of week",
    0,
    7,
    names={**{name: number for number, name in enumerate(_DAYS, start=1)}, "sunday": 0},
    allows_question_mark=True,
    wrap_end=0,
)
#: django-lightweight-queue's ``days``: ISO weekdays, 1 is Monday and 7 is Sunday.
ISO_WEEKDAY: Final = FieldSpec(
    "days",
    1,
    7,
    names={name: number for number, name in enumerate(_DAYS, start=1)},
    allows_question_mark=True,
)


@dataclass(frozen=True, slots=True)
class ParsedField:
    """A field's matching numbers (sorted), and whether it restricts anything.

    ``restricted`` follows cron: a field written starting with ``*`` (``*``, ``*/2``) or ``?``
    is unrestricted, whatever its step. It decides the day-of-month / day-of-week rule and
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
    )(?:/(?P<step>\d+))?$""",
    re.VERBOSE,
)
_SEPARATOR = re.compile(r"\s*,\s*")


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
    label = name or spec.label

    def fail(problem: str) -> InvalidSchedule:
        return InvalidSchedule(problem, entry=entry, field=label)

    if isinstance(value, bool):
        raise fail(f"{value!r} is not a number, a range or '*'")
    if isinstance(value, int):
        return ParsedField(_check_value(value, spec, fail), restricted=True)
    if isinstance(value, str):
        text = value.strip().lower()
        if not text:
            raise fail("is empty: use '*' for every value")
        return _parse_text(text, spec, fail)
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        items = list(value)
        if not items:
            raise fail("is an empty list: use '*' for every value")
        values: set[int] = set()
        last_day = False
        for item in items:
            if not isinstance(item, int | str) or isinstance(item, bool):
                raise fail(f"list item {item!r} is not a number or a string")
            parsed = parse_field(item, spec, entry=entry, name=label)
            values.update(parsed.values)
            last_day = last_day or parsed.last_day
        return ParsedField(tuple(sorted(values)), restricted=True, last_day=last_day)
    raise fail(f"{value!r} is not a number, a string or a list")


def _parse_text(text: str, spec: FieldSpec, fail: _Fail) -> ParsedField:
    values: set[int] = set()
    last_day = False
    terms = _SEPARATOR.split(text)
    for term in terms:
        if not term:
            raise fail(f"{text!r} has an empty item")
        if term == "l" and spec.allows_last:
            last_day = True
            continue
        values.update(_parse_term(term, spec, fail))
    restricted = not (len(terms) == 1 and terms[0][0] in "*?")
    return ParsedField(tuple(sorted(values)), restricted=restricted, last_day=last_day)


def _parse_term(term: str, spec: FieldSpec, fail: _Fail) -> range:
    match = _TERM.match(term)
    if match is None:
        raise fail(f"{term!r} is not a number, a name, a range (a-b) or a step (*/n, a-b/n)")
    step_text = match.group("step")
    step = int(step_text) if step_text is not None else 1
    if step < 1:
        raise fail(f"the step in {term!r} must be 1 or more")
    if match.group("star") is not None:
        if match.group("star") == "?" and not spec.allows_question_mark:
            raise fail("'?' is only allowed in the day fields")
        return range(spec.low, spec.high + 1, step)
    start = _number(match.group("start"), spec, fail)
    end_text = match.group("end")
    if end_text is None:
        # "a/n" means from a to the end of the range, every n, as in Vixie cron.
        end = spec.high if step_text is not None else start
    else:
        end = _number(end_text, spec, fail)
        if spec.wrap_end is not None and end == spec.wrap_end and start > end:
            end = spec.high
    if end < start:
        raise fail(f"the range {term!r} runs backwards (from {start} down to {end})")
    return range(start, end + 1, step)


def _number(text: str, spec: FieldSpec, fail: _Fail) -> int:
    if text.isdigit():
        return _check_value(int(text), spec, fail)[0]
    # "mon" and "monday" (or "mond"), "jan" and "january", but not "monkey"
    for name, number in spec.names.items():
        if len(text) >= 3 and name.startswith(text):
            return number
    known = ", ".join(name[:3] for name in sorted(spec.names, key=spec.names.__getitem__))
    raise fail(f"{text!r} is not a number or a known name (names: {known or 'none'})")


def _check_value(value: int, spec: FieldSpec, fail: _Fail) -> tuple[int]:
    if not spec.low <= value <= spec.high:
        raise fail(f"{value} is out of range {spec.low}-{spec.high}")
    return (value,)
