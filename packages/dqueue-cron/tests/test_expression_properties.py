"""Property: the next fire time fires, and nothing between the moment and it does.

The oracle walks every minute (or second) after the moment and decides from first principles
whether the schedule fires at that instant, by the documented DST rule:

- a schedule whose minute or hour starts with ``*`` fires at every instant whose local time
  matches;
- any other fires at the first occurrence of a matching local time, and once at the end of a
  skipped hour that contains a matching local time.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dqueue_cron import CronExpression, parse_cron
from dqueue_cron.schedule import offset_at, resolve_zone, wall_datetime, wall_seconds

ZONES = ["UTC", "Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata"]
#: DST changes of those zones, where mistakes would hide: (zone, instant, local hours nearby).
CHANGES = [
    ("Europe/London", datetime(2026, 3, 29, 1, tzinfo=UTC).timestamp(), (0, 3)),
    ("Europe/London", datetime(2026, 10, 25, 1, tzinfo=UTC).timestamp(), (0, 3)),
    ("America/New_York", datetime(2026, 3, 8, 7, tzinfo=UTC).timestamp(), (1, 4)),
    ("America/New_York", datetime(2026, 11, 1, 6, tzinfo=UTC).timestamp(), (0, 3)),
    ("Australia/Lord_Howe", datetime(2026, 4, 4, 15, tzinfo=UTC).timestamp(), (0, 3)),
    ("Australia/Lord_Howe", datetime(2026, 10, 3, 15, 30, tzinfo=UTC).timestamp(), (1, 4)),
]


def _field(low: int, high: int, *, dense: bool = False) -> st.SearchStrategy[str]:
    value = st.integers(low, high)
    step = st.integers(1, max(2, (high - low) // 2))
    options = [
        st.just("*"),
        step.map(lambda n: f"*/{n}"),
        st.tuples(value, value, step).map(lambda t: f"{min(t[0], t[1])}-{max(t[0], t[1])}/{t[2]}"),
        st.lists(value, min_size=1, max_size=4).map(lambda xs: ",".join(map(str, xs))),
    ]
    if dense:
        options.insert(0, st.just("*"))
    return st.one_of(*options)


@st.composite
def cron_strings(draw: st.DrawFn) -> str:
    with_seconds = draw(st.booleans())
    fields = [
        draw(_field(0, 59)),
        draw(_field(0, 23, dense=True)),
        draw(st.one_of(st.just("*"), _field(1, 28), st.just("L"))),
        draw(st.one_of(st.just("*"), _field(1, 12))),
        draw(st.one_of(st.just("*"), _field(0, 6))),
    ]
    if with_seconds:
        fields.insert(0, draw(_field(0, 59)))
    return " ".join(fields)


moments = st.one_of(
    st.floats(946_684_800, 2_208_988_800, allow_nan=False),  # 2000-2040
    st.tuples(st.sampled_from([c[1] for c in CHANGES]), st.floats(-2 * 86400, 2 * 86400)).map(sum),
)


@st.composite
def near_a_change(draw: st.DrawFn) -> tuple[str, str, float]:
    """A schedule firing in the hours around a DST change, and a moment shortly before it."""
    zone, instant, (first_hour, last_hour) = draw(st.sampled_from(CHANGES))
    hours = draw(
        st.one_of(
            st.just("*"),
            st.lists(st.integers(first_hour, last_hour), min_size=1, max_size=3).map(
                lambda xs: ",".join(map(str, xs))
            ),
        )
    )
    seconds = draw(st.one_of(st.just(""), _field(0, 59).map(lambda text: text + " ")))
    text = f"{seconds}{draw(_field(0, 59))} {hours} * * *"
    return (
        text,
        zone,
        instant + draw(st.integers(-4 * 3600, 3600)) + draw(st.sampled_from([0, 0.5])),
    )


def _matches(expression: CronExpression, wall: datetime) -> bool:
    return (
        wall.second in expression.seconds
        and wall.minute in expression.minutes
        and wall.hour in expression.hours
        and wall.month in expression.months
        and expression.day_matches(wall.year, wall.month, wall.day)
    )


def fires_at(expression: CronExpression, instant: int, zone) -> bool:
    """The oracle: does ``expression`` fire at ``instant`` in ``zone``?"""
    local = datetime.fromtimestamp(instant, zone)
    if expression.follows_elapsed_time:
        return _matches(expression, local)
    if _matches(expression, local) and local.fold == 0:
        return True
    jump = offset_at(instant, zone) - offset_at(instant - 1, zone)
    if jump <= 0:
        return False
    # `instant` ends a skipped stretch of local time: does any skipped time match?
    end = wall_seconds(local)
    return any(
        _matches(expression, wall_datetime(w)) for w in range(end - jump, end, _step(expression))
    )


def _step(expression: CronExpression) -> int:
    return 60 if expression.seconds == (0,) else 1


def check_next_fire_time(text: str, after: float, zone_name: str) -> None:
    expression = parse_cron(text)
    zone = resolve_zone(zone_name)
    fired = expression.next_instant(after, zone)

    assert fired > after
    assert fires_at(expression, fired, zone), (text, zone_name, after, fired)
    step = _step(expression)
    bound = min(fired, after + (3000 * step))
    first = int(after) + 1
    first += (-first) % step  # the first minute boundary after `after`, for minute schedules
    for instant in range(first, int(bound), step):
        if instant > after:
            assert not fires_at(expression, instant, zone), (text, zone_name, after, instant)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=cron_strings(), after=moments, zone_name=st.sampled_from(ZONES))
def test_the_next_fire_time_fires_and_nothing_before_it_does(text, after, zone_name):
    check_next_fire_time(text, after, zone_name)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=near_a_change())
def test_near_a_dst_change_the_next_fire_time_fires_and_nothing_before_it_does(case):
    text, zone_name, after = case
    check_next_fire_time(text, after, zone_name)


@settings(max_examples=100, deadline=None)
@given(text=cron_strings(), after=moments, zone_name=st.sampled_from(ZONES))
def test_fire_times_increase_strictly_and_match_their_local_time(text, after, zone_name):
    expression = parse_cron(text)
    zone = ZoneInfo(zone_name)
    previous = after
    for _ in range(5):
        fired = expression.next_instant(previous, zone)
        assert fired > previous
        if expression.follows_elapsed_time:
            assert _matches(expression, datetime.fromtimestamp(fired, zone))
        previous = fired


def test_the_oracle_agrees_with_a_known_gap_case():
    # sanity check of the oracle itself: 02:30 in New York's skipped hour runs at 03:00 EDT
    expression = parse_cron("30 2 * * *")
    zone = ZoneInfo("America/New_York")
    gap_end = int(datetime(2026, 3, 8, 3, 0, tzinfo=zone).timestamp())
    assert fires_at(expression, gap_end, zone)
    assert not fires_at(expression, gap_end + 60, zone)
    assert not fires_at(expression, gap_end - 3600 - 60, zone)
