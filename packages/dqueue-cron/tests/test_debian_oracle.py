"""Property: fire times agree with a simulation of Debian's cron, minute by minute.

The oracle shares nothing with dqueue-cron but the time zone database: each random five-field
expression is drawn together with the numbers each field matches, and the oracle replays the
main loop of Debian's ``cron.c`` over every minute of a window. Its clock is the local wall
time in minutes (``virtualTime`` and ``timeRunning``); when the wall time jumps forward by more
than 5 minutes (the clocks go forward) it runs the wildcard jobs for the new minute and the
fixed-time jobs of every minute it skipped; when it goes back (the clocks go back) it runs only
the wildcard jobs until the wall time catches up. A job is a wildcard job when its minute or
hour field starts with ``*``. Where Debian's cron would run a job more than once in the same
minute (several fixed times in a skipped hour), dqueue runs it once: the oracle counts the
minute once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqueue_cron import InvalidSchedule, parse_cron

ZONES = ["UTC", "America/New_York", "Europe/London", "Australia/Lord_Howe"]
_MONTH_NAMES = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
_DAY_NAMES = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
#: How far before the window the simulation starts, so that a repeated hour already began.
_WARM_UP_MINUTES = 4 * 60


def _changes(zone_name: str) -> list[int]:
    """The instants (epoch seconds) where the zone's offset changes in 2026 and 2027."""
    zone = ZoneInfo(zone_name)
    start = int(datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    found = []
    previous = datetime.fromtimestamp(start, zone).utcoffset()
    for instant in range(start, start + 2 * 366 * 86400, 1800):
        offset = datetime.fromtimestamp(instant, zone).utcoffset()
        if offset != previous:
            found.append(instant)  # every change of these zones falls on a half hour
        previous = offset
    return found


CHANGES = [(zone, instant) for zone in ZONES[1:] for instant in _changes(zone)]


def test_the_changes_are_found():
    assert len(CHANGES) == 12  # three zones, two changes a year, two years


# -- expressions with their meaning ------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    text: str
    values: frozenset[int]

    @property
    def star(self) -> bool:
        """Debian's MIN_STAR, HR_STAR, DOM_STAR, DOW_STAR: the field starts with ``*``."""
        return self.text.startswith("*")


def _field(
    low: int, high: int, names: list[str] | None = None, *, items: tuple[int, int] | None = None
) -> st.SearchStrategy[Field]:
    """A field of ``low``-``high``, whose numbers (not its stars) are drawn from ``items``."""
    value = st.integers(*(items or (low, high)))
    step = st.integers(1, max(2, (high - low) // 2))

    def single(number: int, use_name: bool) -> Field:
        text = names[number - low] if names and use_name and number - low < len(names) else None
        return Field(text or str(number), frozenset({number}))

    def ranged(a: int, b: int, n: int) -> Field:
        a, b = min(a, b), max(a, b)
        text = f"{a}-{b}" if n == 1 else f"{a}-{b}/{n}"
        return Field(text, frozenset(range(a, b + 1, n)))

    item = st.one_of(
        st.builds(single, value, st.booleans()),
        st.builds(ranged, value, value, st.integers(1, 3)),
    )

    def listed(items: list[Field]) -> Field:
        return Field(",".join(i.text for i in items), frozenset().union(*(i.values for i in items)))

    every = frozenset(range(low, high + 1))
    return st.one_of(
        st.just(Field("*", every)),
        step.map(lambda n: Field(f"*/{n}", frozenset(range(low, high + 1, n)))),
        # a list that starts with a star is unrestricted, like a star alone
        item.map(lambda i: Field(f"*,{i.text}", every | i.values)),
        item,
        st.lists(item, min_size=2, max_size=3).map(listed),
    )


@dataclass(frozen=True)
class Expression:
    minute: Field
    hour: Field
    day: Field
    month: Field
    weekday: Field

    @property
    def text(self) -> str:
        fields = (self.minute, self.hour, self.day, self.month, self.weekday)
        return " ".join(field.text for field in fields)

    @property
    def wildcard(self) -> bool:
        return self.minute.star or self.hour.star

    def matches(self, wall: datetime) -> bool:
        """Debian's find_jobs test for one wall-clock minute."""
        by_day = wall.day in self.day.values
        by_weekday = wall.isoweekday() % 7 in {d % 7 for d in self.weekday.values}
        # the OR rule only when both day fields are restricted
        both = not (self.day.star or self.weekday.star)
        days = (by_day or by_weekday) if both else (by_day and by_weekday)
        return (
            wall.minute in self.minute.values
            and wall.hour in self.hour.values
            and wall.month in self.month.values
            and days
        )


def expressions(hours: st.SearchStrategy[Field]) -> st.SearchStrategy[Expression]:
    """Five-field expressions that fire often enough to be seen within a day or two."""
    sometimes = st.integers(0, 3).flatmap  # mostly "*" for the day and month fields
    return st.builds(
        Expression,
        minute=_field(0, 59),
        hour=hours,
        day=sometimes(lambda n: _field(1, 31) if n == 0 else st.just(Field("*", _ALL_DAYS))),
        month=sometimes(
            lambda n: _field(1, 12, _MONTH_NAMES) if n == 0 else st.just(Field("*", _ALL_MONTHS))
        ),
        weekday=sometimes(
            lambda n: _field(0, 7, _DAY_NAMES) if n == 0 else st.just(Field("*", _ALL_WEEKDAYS))
        ),
    )


_ALL_DAYS = frozenset(range(1, 32))
_ALL_MONTHS = frozenset(range(1, 13))
_ALL_WEEKDAYS = frozenset(range(8))


# -- the oracle --------------------------------------------------------------------------------


def debian_runs(expression: Expression, zone: ZoneInfo, start: int, end: int) -> list[int]:
    """The instants in ``(start, end]`` at which Debian's cron would run ``expression``."""
    epoch = datetime(1970, 1, 1)

    def wall_minute(minute: int) -> int:  # clockTime: local wall time in minutes
        offset = datetime.fromtimestamp(minute * 60, zone).utcoffset() or timedelta()
        return minute + int(offset.total_seconds()) // 60

    def fires(wall: int) -> bool:
        return expression.matches(epoch + timedelta(minutes=wall))

    wild = expression.wildcard
    first = start // 60 - _WARM_UP_MINUTES
    virtual = wall_minute(first - 1)
    runs: list[int] = []
    for minute in range(first, end // 60 + 1):
        running = wall_minute(minute)
        difference = running - virtual
        if 0 < difference <= 5:  # the usual step of one minute (or a late wake-up)
            ran = any(fires(v) for v in range(virtual + 1, running + 1))
            virtual = running
        elif 5 < difference <= 180:  # the clocks went forward
            ran = (wild and fires(running)) or (
                not wild and any(fires(v) for v in range(virtual + 1, running + 1))
            )
            virtual = running
        elif -180 < difference <= 0:  # the clocks went back: virtual time waits
            ran = wild and fires(running)
        else:
            ran, virtual = fires(running), running
        if ran and start < minute * 60 <= end:
            runs.append(minute * 60)
    return runs


def dqueue_runs(expression: Expression, zone: ZoneInfo, start: float, end: int) -> list[int]:
    parsed = parse_cron(expression.text)
    runs = []
    instant = parsed.next_instant(start, zone)
    while instant <= end:
        runs.append(instant)
        instant = parsed.next_instant(instant, zone)
    return runs


def check(expression: Expression, zone_name: str, start: float, minutes: int) -> None:
    zone = ZoneInfo(zone_name)
    end = int(start) + minutes * 60
    expected = debian_runs(expression, zone, int(start), end)
    try:
        found = dqueue_runs(expression, zone, start, end)
    except InvalidSchedule:  # refused as never firing (February 30th): cron never runs it
        found = []
    assert found == expected, (expression.text, zone_name, start)


# -- the properties ----------------------------------------------------------------------------

_EXAMPLES = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_EXAMPLES
@given(
    expression=expressions(_field(0, 23)),
    zone_name=st.sampled_from(ZONES),
    start=st.integers(946_684_800, 2_208_988_800),  # 2000-2040
    fraction=st.sampled_from([0.0, 0.5]),
)
def test_fire_times_agree_with_debian_cron_at_random_moments(
    expression, zone_name, start, fraction
):
    check(expression, zone_name, start + fraction, minutes=2 * 1440)


@_EXAMPLES
@given(
    # hours around the changes (they happen between 01:00 and 03:00 local time)
    expression=expressions(_field(0, 23, items=(0, 4))),
    change=st.sampled_from(CHANGES),
    before=st.integers(0, 5 * 3600),
    fraction=st.sampled_from([0.0, 0.5]),
)
def test_fire_times_agree_with_debian_cron_across_dst_changes(expression, change, before, fraction):
    zone_name, instant = change
    check(expression, zone_name, instant - before + fraction, minutes=8 * 60)


def test_the_oracle_runs_a_star_minute_in_both_passes_and_a_fixed_time_once():
    zone = ZoneInfo("America/New_York")
    fall_back = int(datetime(2026, 11, 1, 6, tzinfo=UTC).timestamp())
    one = frozenset({1})
    days = Field("*", _ALL_DAYS), Field("*", _ALL_MONTHS), Field("*", _ALL_WEEKDAYS)
    wildcard = Expression(Field("*/15", frozenset(range(0, 60, 15))), Field("1", one), *days)
    fixed = Expression(Field("30", frozenset({30})), Field("1", one), *days)
    window = (fall_back - 3 * 3600, fall_back + 3 * 3600)
    assert len(debian_runs(wildcard, zone, *window)) == 8
    assert len(debian_runs(fixed, zone, *window)) == 1
