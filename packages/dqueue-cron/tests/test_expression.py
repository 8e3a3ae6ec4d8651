"""Cron expressions against known fire times: formats, day rules, leap years, DST edges."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from dqueue_cron import (
    CronExpression,
    fire_times,
    next_fire_time,
    parse_cron,
    parse_fields,
    previous_fire_time,
)
from dqueue_cron.errors import InvalidSchedule


def _fires(spec, after: str, tz: str = "UTC", n: int = 4) -> list[str]:
    start = datetime.fromisoformat(after).replace(tzinfo=ZoneInfo(tz))
    return [moment.isoformat() for moment in islice(fire_times(spec, start, tz), n)]


# -- formats -----------------------------------------------------------------------------------

FIVE_FIELD_CASES = [
    (
        "*/5 9-17 * * mon-fri",
        "2026-11-27T16:52",
        [
            "2026-11-27T16:55:00+00:00",
            "2026-11-27T17:00:00+00:00",
            "2026-11-27T17:05:00+00:00",
            "2026-11-27T17:10:00+00:00",
        ],
    ),
    (
        "*/5 9-17 * * mon-fri",
        "2026-11-27T17:56",
        [
            "2026-11-30T09:00:00+00:00",
            "2026-11-30T09:05:00+00:00",
            "2026-11-30T09:10:00+00:00",
            "2026-11-30T09:15:00+00:00",
        ],
    ),
    (
        "0 0 * * 0",
        "2026-11-27T00:00",
        [
            "2026-11-29T00:00:00+00:00",
            "2026-12-06T00:00:00+00:00",
            "2026-12-13T00:00:00+00:00",
            "2026-12-20T00:00:00+00:00",
        ],
    ),
    (
        "0 0 * * 7",
        "2026-11-27T00:00",
        [
            "2026-11-29T00:00:00+00:00",
            "2026-12-06T00:00:00+00:00",
            "2026-12-13T00:00:00+00:00",
            "2026-12-20T00:00:00+00:00",
        ],
    ),
    (
        "30 4 1,15 * *",
        "2026-11-27T00:00",
        [
            "2026-12-01T04:30:00+00:00",
            "2026-12-15T04:30:00+00:00",
            "2027-01-01T04:30:00+00:00",
            "2027-01-15T04:30:00+00:00",
        ],
    ),
    (
        "0 12 * jan,jul *",
        "2026-11-27T00:00",
        [
            "2027-01-01T12:00:00+00:00",
            "2027-01-02T12:00:00+00:00",
            "2027-01-03T12:00:00+00:00",
            "2027-01-04T12:00:00+00:00",
        ],
    ),
    (
        "0 0 1 */3 *",
        "2026-11-27T00:00",
        [
            "2027-01-01T00:00:00+00:00",
            "2027-04-01T00:00:00+00:00",
            "2027-07-01T00:00:00+00:00",
            "2027-10-01T00:00:00+00:00",
        ],
    ),
    (
        "59 23 31 12 *",
        "2026-11-27T00:00",
        [
            "2026-12-31T23:59:00+00:00",
            "2027-12-31T23:59:00+00:00",
            "2028-12-31T23:59:00+00:00",
            "2029-12-31T23:59:00+00:00",
        ],
    ),
]


@pytest.mark.parametrize(("spec", "after", "expected"), FIVE_FIELD_CASES)
def test_five_field_strings_fire_at_the_known_times(spec, after, expected):
    assert _fires(spec, after) == expected


def test_the_optional_sixth_field_comes_first_and_is_seconds():
    assert _fires("*/20 * * * * *", "2026-11-27T10:00:05") == [
        "2026-11-27T10:00:20+00:00",
        "2026-11-27T10:00:40+00:00",
        "2026-11-27T10:01:00+00:00",
        "2026-11-27T10:01:20+00:00",
    ]


@pytest.mark.parametrize(
    ("nickname", "expected"),
    [
        ("@hourly", "2026-11-27T11:00:00+00:00"),
        ("@daily", "2026-11-28T00:00:00+00:00"),
        ("@midnight", "2026-11-28T00:00:00+00:00"),
        ("@weekly", "2026-11-29T00:00:00+00:00"),
        ("@monthly", "2026-12-01T00:00:00+00:00"),
        ("@yearly", "2027-01-01T00:00:00+00:00"),
        ("@annually", "2027-01-01T00:00:00+00:00"),
        ("@DAILY", "2026-11-28T00:00:00+00:00"),
    ],
)
def test_nicknames_fire_like_their_cron_strings(nickname, expected):
    assert _fires(nickname, "2026-11-27T10:30", n=1) == [expected]


def test_the_next_fire_time_is_strictly_after_the_moment():
    at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert next_fire_time("0 10 * * *", at) == datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert next_fire_time("0 10 * * *", at - timedelta(microseconds=1)) == at


def test_epoch_seconds_are_accepted_as_the_moment():
    at = datetime(2026, 11, 27, 10, 0, 30, tzinfo=UTC)
    assert next_fire_time("* * * * *", at.timestamp()) == datetime(2026, 11, 27, 10, 1, tzinfo=UTC)


def test_a_naive_moment_is_refused():
    with pytest.raises(ValueError, match="naive"):
        next_fire_time("* * * * *", datetime(2026, 11, 27, 10, 0))  # noqa: DTZ001


def test_the_result_is_in_the_requested_zone():
    fired = next_fire_time("0 9 * * *", datetime(2026, 11, 26, 12, tzinfo=UTC), "Asia/Tokyo")
    assert fired.isoformat() == "2026-11-27T09:00:00+09:00"
    assert fired.tzinfo == ZoneInfo("Asia/Tokyo")


# -- the seed's dictionary ---------------------------------------------------------------------


def test_the_seed_dictionary_with_comma_lists_fires_on_its_minutes():
    spec = {"days": "*", "hours": "*", "minutes": "0, 30"}
    assert _fires(spec, "2026-11-27T10:10", n=3) == [
        "2026-11-27T10:30:00+00:00",
        "2026-11-27T11:00:00+00:00",
        "2026-11-27T11:30:00+00:00",
    ]


def test_the_seed_dictionary_days_are_iso_weekdays():
    # 6 and 7 are Saturday and Sunday; 2026-11-27 is a Friday
    spec = {"days": "6,7", "hours": "9", "minutes": "0"}
    assert _fires(spec, "2026-11-27T10:00", n=3) == [
        "2026-11-28T09:00:00+00:00",
        "2026-11-29T09:00:00+00:00",
        "2026-12-05T09:00:00+00:00",
    ]


def test_the_seed_dictionary_accepts_ints_ranges_steps_and_names():
    spec = {"days": "mon-fri", "hours": 9, "minutes": "*/20", "months": "dec"}
    assert _fires(spec, "2026-11-27T10:00", n=4) == [
        "2026-12-01T09:00:00+00:00",
        "2026-12-01T09:20:00+00:00",
        "2026-12-01T09:40:00+00:00",
        "2026-12-02T09:00:00+00:00",
    ]


def test_the_seed_dictionary_defaults_unnamed_fields_to_every_value_and_seconds_to_zero():
    assert _fires({"minutes": "15"}, "2026-11-27T10:00", n=2) == [
        "2026-11-27T10:15:00+00:00",
        "2026-11-27T11:15:00+00:00",
    ]


def test_the_seed_dictionary_takes_a_seconds_field():
    assert _fires({"seconds": "*/2"}, "2026-11-27T10:00:00", n=3) == [
        "2026-11-27T10:00:02+00:00",
        "2026-11-27T10:00:04+00:00",
        "2026-11-27T10:00:06+00:00",
    ]


def test_a_dictionary_without_any_schedule_field_is_refused():
    with pytest.raises(InvalidSchedule, match="cron entry 'x': has no schedule"):
        parse_fields({"command": "x"}, entry="x")


def test_a_bad_dictionary_field_names_the_entry_and_the_key():
    with pytest.raises(InvalidSchedule) as caught:
        parse_fields({"hours": 25, "minutes": 0}, entry="cleanup")
    assert str(caught.value) == "cron entry 'cleanup': field 'hours': 25 is out of range 0-23"


# -- days --------------------------------------------------------------------------------------


def test_when_day_of_month_and_day_of_week_are_both_restricted_either_matches():
    # the 13th, and every Friday (2026-11-27 is a Friday)
    assert _fires("0 12 13 * fri", "2026-11-28T00:00", n=4) == [
        "2026-12-04T12:00:00+00:00",
        "2026-12-11T12:00:00+00:00",
        "2026-12-13T12:00:00+00:00",
        "2026-12-18T12:00:00+00:00",
    ]


def test_a_star_day_of_week_leaves_the_day_of_month_alone():
    assert _fires("0 12 13 * *", "2026-11-28T00:00", n=2) == [
        "2026-12-13T12:00:00+00:00",
        "2027-01-13T12:00:00+00:00",
    ]


def test_a_stepped_star_day_of_week_still_combines_with_and():
    # "*/2" starts with a star: unrestricted by cron's rule, so both fields must match
    # (the 13th of a month that falls on Sun, Tue, Thu or Sat)
    assert _fires("0 0 13 * */2", "2026-11-28T00:00", n=2) == [
        "2026-12-13T00:00:00+00:00",  # Sunday
        "2027-02-13T00:00:00+00:00",  # Saturday
    ]


def test_a_day_list_starting_with_a_star_is_unrestricted_as_in_cron():
    # "*,5" starts with a star: cron's OR rule does not apply, so only the 13th fires
    assert _fires("0 0 13 * *,5", "2026-11-28T00:00", n=2) == [
        "2026-12-13T00:00:00+00:00",
        "2027-01-13T00:00:00+00:00",
    ]
    assert _fires({"days_of_month": "13", "days": ["*", 5]}, "2026-11-28T00:00", n=1) == [
        "2026-12-13T00:00:00+00:00"
    ]


def test_feb_29_fires_only_in_leap_years_skipping_2100():
    assert _fires("0 0 29 2 *", "2095-01-01T00:00", n=3) == [
        "2096-02-29T00:00:00+00:00",
        "2104-02-29T00:00:00+00:00",
        "2108-02-29T00:00:00+00:00",
    ]


def test_the_31st_fires_only_in_months_that_have_one():
    assert _fires("0 0 31 * *", "2026-11-27T00:00", n=4) == [
        "2026-12-31T00:00:00+00:00",
        "2027-01-31T00:00:00+00:00",
        "2027-03-31T00:00:00+00:00",
        "2027-05-31T00:00:00+00:00",
    ]


def test_l_fires_on_the_last_day_of_every_month_including_leap_february():
    assert _fires("0 0 L * *", "2028-01-15T00:00", n=4) == [
        "2028-01-31T00:00:00+00:00",
        "2028-02-29T00:00:00+00:00",
        "2028-03-31T00:00:00+00:00",
        "2028-04-30T00:00:00+00:00",
    ]


@pytest.mark.parametrize("spec", ["0 0 30 2 *", "0 0 31 4,6,9,11 *", "0 0 31 feb *"])
def test_a_day_that_no_chosen_month_has_is_refused_as_never_firing(spec):
    with pytest.raises(InvalidSchedule, match="never fires"):
        parse_cron(spec, entry="x")


# -- bad strings -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("* * * *", "has 4 fields: expected 5"),
        ("* * * * * * *", "has 7 fields"),
        ("@reboot", "'@reboot' is not a known nickname"),
        ("60 * * * *", "field 'minute': 60 is out of range 0-59"),
        ("* 24 * * *", "field 'hour': 24 is out of range 0-23"),
        ("* * 0 * *", "field 'day of month': 0 is out of range 1-31"),
        ("* * * 13 *", "field 'month': 13 is out of range 1-12"),
        ("* * * * 8", "field 'day of week': 8 is out of range 0-7"),
        ("61 * * * * *", "field 'second': 61 is out of range 0-59"),
        # cron separates fields with spaces and tabs only
        ("0\u00a00 * * * *", "field 'minute': '0\\xa00' is not a number"),
    ],
)
def test_bad_cron_strings_are_refused_naming_the_field(spec, message):
    with pytest.raises(InvalidSchedule, match="^cron entry 'job': ") as caught:
        parse_cron(spec, entry="job")
    assert message in str(caught.value)


# -- DST ---------------------------------------------------------------------------------------

DST_CASES = [
    # spring forward: 01:00 GMT becomes 02:00 BST; 01:30 does not exist that day
    ("30 1 * * *", "Europe/London", "2026-03-28T12:00",
     ["2026-03-29T02:00:00+01:00", "2026-03-30T01:30:00+01:00"]),
    # fall back: 01:30 happens twice; it fires at the first one only
    ("30 1 * * *", "Europe/London", "2026-10-24T12:00",
     ["2026-10-25T01:30:00+01:00", "2026-10-26T01:30:00+00:00"]),
    # a star hour follows elapsed time: both passes of the repeated hour fire
    ("*/30 * * * *", "Europe/London", "2026-10-25T00:45",
     ["2026-10-25T01:00:00+01:00", "2026-10-25T01:30:00+01:00", "2026-10-25T01:00:00+00:00",
      "2026-10-25T01:30:00+00:00", "2026-10-25T02:00:00+00:00"]),
    # ... and the skipped hour simply does not happen
    ("*/30 * * * *", "Europe/London", "2026-03-29T00:15",
     ["2026-03-29T00:30:00+00:00", "2026-03-29T02:00:00+01:00", "2026-03-29T02:30:00+01:00"]),
    ("30 2 * * *", "America/New_York", "2026-03-07T12:00",
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"]),
    ("30 1 * * *", "America/New_York", "2026-10-31T12:00",
     ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"]),
    ("0 * * * *", "America/New_York", "2026-03-08T00:30",
     ["2026-03-08T01:00:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-08T04:00:00-04:00"]),
    # fixed times of the skipped hour collapse into one run at the end of the gap
    ("0,30 2 * * *", "America/New_York", "2026-03-08T01:58",
     ["2026-03-08T03:00:00-04:00", "2026-03-09T02:00:00-04:00"]),
    # a star minute makes a wildcard job, as in Debian's cron: nothing in the skipped hour ...
    ("* 2 * * *", "America/New_York", "2026-03-08T01:58",
     ["2026-03-09T02:00:00-04:00", "2026-03-09T02:01:00-04:00"]),
    # ... and both passes of the repeated hour
    ("*/15 1 * * *", "America/New_York", "2026-11-01T00:50",
     ["2026-11-01T01:00:00-04:00", "2026-11-01T01:15:00-04:00", "2026-11-01T01:30:00-04:00",
      "2026-11-01T01:45:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:15:00-05:00",
      "2026-11-01T01:30:00-05:00", "2026-11-01T01:45:00-05:00", "2026-11-02T01:00:00-05:00"]),
    ("*/20 1 * * *", "Australia/Lord_Howe", "2026-04-05T01:10",
     ["2026-04-05T01:20:00+11:00", "2026-04-05T01:40:00+11:00", "2026-04-05T01:40:00+10:30",
      "2026-04-06T01:00:00+10:30"]),
    # the southern hemisphere: DST starts in October and ends in April
    ("30 2 * * *", "Australia/Sydney", "2026-10-03T12:00",
     ["2026-10-04T03:00:00+11:00", "2026-10-05T02:30:00+11:00"]),
    ("30 2 * * *", "Australia/Sydney", "2026-04-04T12:00",
     ["2026-04-05T02:30:00+11:00", "2026-04-06T02:30:00+10:00"]),
    # Lord Howe moves its clocks by half an hour
    ("15 2 * * *", "Australia/Lord_Howe", "2026-10-03T12:00",
     ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"]),
    ("45 1 * * *", "Australia/Lord_Howe", "2026-04-04T12:00",
     ["2026-04-05T01:45:00+11:00", "2026-04-06T01:45:00+10:30"]),
    ("*/20 * * * *", "Australia/Lord_Howe", "2026-04-05T01:10",
     ["2026-04-05T01:20:00+11:00", "2026-04-05T01:40:00+11:00", "2026-04-05T01:40:00+10:30",
      "2026-04-05T02:00:00+10:30"]),
]  # fmt: skip


@pytest.mark.parametrize(("spec", "tz", "after", "expected"), DST_CASES)
def test_fire_times_across_dst_changes_follow_the_documented_rule(spec, tz, after, expected):
    assert _fires(spec, after, tz, n=len(expected)) == expected


def test_a_skipped_time_fires_once_even_when_several_collapse_into_the_gap_end():
    gap_end = datetime(2026, 3, 8, 3, 0, tzinfo=ZoneInfo("America/New_York"))
    after_gap = next_fire_time("0,10,20 2 * * *", gap_end, "America/New_York")
    assert after_gap.isoformat() == "2026-03-09T02:00:00-04:00"


def test_a_star_minute_with_a_fixed_hour_runs_in_both_passes_of_a_repeated_hour():
    zone = ZoneInfo("America/New_York")
    runs = fire_times("*/15 1 * * *", datetime(2026, 11, 1, 1, 50, tzinfo=zone), zone)
    assert next(runs).isoformat() == "2026-11-01T01:00:00-05:00"  # the second pass
    assert parse_cron("*/15 1 * * *").follows_elapsed_time
    assert not parse_cron("0 1 * * *").follows_elapsed_time
    assert parse_fields({"hours": 1}).follows_elapsed_time  # minutes default to "*"


def test_a_moment_inside_the_second_pass_of_a_repeated_hour_skips_to_after_it():
    zone = ZoneInfo("America/New_York")
    second_pass = datetime(2026, 11, 1, 1, 10, fold=1, tzinfo=zone)
    fired = next_fire_time("30 1 * * *", second_pass, zone)
    assert fired.isoformat() == "2026-11-02T01:30:00-05:00"


# -- previous fire time and speed --------------------------------------------------------------


def test_the_previous_fire_time_is_strictly_before_the_moment():
    at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert previous_fire_time("*/5 * * * *", at) == datetime(2026, 11, 27, 9, 55, tzinfo=UTC)
    assert previous_fire_time("0 0 29 2 *", at) == datetime(2024, 2, 29, tzinfo=UTC)


def test_the_previous_fire_time_respects_the_lower_bound():
    at = datetime(2026, 11, 27, 10, 0, tzinfo=UTC)
    assert previous_fire_time("0 0 * * *", at, not_before=at - timedelta(hours=9)) is None
    found = previous_fire_time("0 0 * * *", at, not_before=at - timedelta(hours=10))
    assert found == datetime(2026, 11, 27, tzinfo=UTC)


def test_a_rare_schedule_is_found_by_jumping_not_by_scanning(monkeypatch):
    checked_days = []
    original = CronExpression.day_matches

    def counting(self, year, month, day):
        checked_days.append((year, month, day))
        return original(self, year, month, day)

    expression = parse_cron("59 23 29 2 *")  # parsing checks that it fires at all
    monkeypatch.setattr(CronExpression, "day_matches", counting)
    fired = next_fire_time(expression, datetime(2096, 3, 1, tzinfo=UTC))
    assert fired == datetime(2104, 2, 29, 23, 59, tzinfo=UTC)
    # eight years hold 4 million minutes; jumping looks at February's days only
    assert len(checked_days) < 8 * 29 + 10
