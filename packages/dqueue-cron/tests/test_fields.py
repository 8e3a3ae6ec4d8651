"""One field of a schedule: values, lists, ranges, steps, names, and the errors."""

from __future__ import annotations

import pytest

from dqueue.errors import ConfigurationError
from dqueue_cron import parsing as f
from dqueue_cron.errors import InvalidSchedule


@pytest.mark.parametrize(
    ("value", "spec", "expected"),
    [
        ("*", f.HOUR, tuple(range(24))),
        ("*/15", f.MINUTE, (0, 15, 30, 45)),
        ("0, 30", f.MINUTE, (0, 30)),
        ("0,30", f.MINUTE, (0, 30)),
        ("9-17", f.HOUR, tuple(range(9, 18))),
        ("9-17/4", f.HOUR, (9, 13, 17)),
        ("5/20", f.MINUTE, (5, 25, 45)),
        ("1-3,10,20-21", f.DAY_OF_MONTH, (1, 2, 3, 10, 20, 21)),
        (5, f.MINUTE, (5,)),
        ([0, "30", "45-46"], f.MINUTE, (0, 30, 45, 46)),
        ("jan", f.MONTH, (1,)),
        ("Jan-Mar", f.MONTH, (1, 2, 3)),
        ("june,december", f.MONTH, (6, 12)),
        ("mon-fri", f.ISO_WEEKDAY, (1, 2, 3, 4, 5)),
        ("sat,sun", f.ISO_WEEKDAY, (6, 7)),
        ("sun", f.CRON_WEEKDAY, (0,)),
        ("sat-sun", f.CRON_WEEKDAY, (6, 7)),
        ("mon-fri", f.CRON_WEEKDAY, (1, 2, 3, 4, 5)),
        ("  7 ", f.ISO_WEEKDAY, (7,)),
        ("0000000000005", f.MINUTE, (5,)),
    ],
)
def test_field_values_are_parsed_to_the_numbers_they_match(value, spec, expected):
    assert f.parse_field(value, spec).values == expected


def test_a_field_starting_with_a_star_is_unrestricted_whatever_its_step():
    assert f.parse_field("*", f.DAY_OF_MONTH).restricted is False
    assert f.parse_field("*/2", f.DAY_OF_MONTH).restricted is False
    assert f.parse_field("?", f.DAY_OF_MONTH).restricted is False
    assert f.parse_field("*,5", f.DAY_OF_MONTH).restricted is False
    assert f.parse_field(["*", 5], f.DAY_OF_MONTH).restricted is False
    assert f.parse_field("1-31", f.DAY_OF_MONTH).restricted is True
    assert f.parse_field("5,*", f.DAY_OF_MONTH).restricted is True
    assert f.parse_field(3, f.DAY_OF_MONTH).restricted is True


def test_names_are_the_three_letter_ones_and_the_full_ones_in_any_case():
    assert f.parse_field("Jan,FEBRUARY,mar", f.MONTH).values == (1, 2, 3)
    assert f.parse_field("monday-Wed", f.ISO_WEEKDAY).values == (1, 2, 3)


def test_l_in_the_day_of_month_means_the_last_day():
    parsed = f.parse_field("1,L", f.DAY_OF_MONTH)
    assert parsed.last_day is True
    assert parsed.values == (1,)


@pytest.mark.parametrize(
    ("value", "spec", "message"),
    [
        ("25", f.HOUR, "field 'hour': 25 is out of range 0-23"),
        (60, f.MINUTE, "field 'minute': 60 is out of range 0-59"),
        ("0", f.ISO_WEEKDAY, "field 'days': 0 is out of range 1-7"),
        ("8", f.CRON_WEEKDAY, "8 is out of range 0-7"),
        ("5-1", f.HOUR, "the range '5-1' runs backwards"),
        ("*/0", f.MINUTE, "the step in '*/0' must be 1 or more"),
        ("", f.MINUTE, "is empty"),
        ("1,,2", f.MINUTE, "has an empty item"),
        ("monkey", f.ISO_WEEKDAY, "'monkey' is not a number or a known name"),
        ("jan", f.HOUR, "'jan' is not a number or a known name (names: none)"),
        ("L", f.HOUR, "'l' is not a number or a known name"),
        ("?", f.MINUTE, "'?' is only allowed in the day fields"),
        ("1-", f.MINUTE, "is not a number, a name, a range"),
        (True, f.MINUTE, "True is not a number"),
        ([], f.MINUTE, "is an empty list"),
        ([1.5], f.MINUTE, "list item 1.5 is not a number or a string"),
        (2.5, f.MINUTE, "2.5 is not a number, a string or a list"),
        # refused by cron too: name prefixes, "?" in a list or with a step, non-ASCII digits
        ("janu-jun", f.MONTH, "'janu' is not a number or a known name"),
        ("mond", f.ISO_WEEKDAY, "'mond' is not a number or a known name"),
        ("sept", f.MONTH, "'sept' is not a number or a known name"),
        ("?,1", f.DAY_OF_MONTH, "'?' stands alone"),
        ("1,?", f.CRON_WEEKDAY, "'?' stands alone"),
        (["?", 1], f.DAY_OF_MONTH, "'?' stands alone"),
        ("?/2", f.DAY_OF_MONTH, "'?' stands alone"),
        ("*/\u0663", f.MINUTE, "is not a number, a name, a range"),
        ("1-\u0663", f.MINUTE, "is not a number, a name, a range"),
        ("*/\uff15", f.MINUTE, "is not a number, a name, a range"),
        ("\u0663", f.MINUTE, "is not a number, a name, a range"),
        ("*/" + "9" * 5000, f.MINUTE, "999999999... is too large"),
        ("9" * 5000, f.MINUTE, "999999999... is too large"),
    ],
)
def test_bad_field_values_are_refused_with_a_message_naming_the_field(value, spec, message):
    with pytest.raises(InvalidSchedule) as caught:
        f.parse_field(value, spec, entry="cleanup")
    assert message in str(caught.value)
    assert str(caught.value).startswith("cron entry 'cleanup': field ")


def test_field_errors_are_configuration_errors():
    with pytest.raises(ConfigurationError):
        f.parse_field("99", f.MINUTE)


def test_the_error_uses_the_name_the_caller_gives_the_field():
    with pytest.raises(InvalidSchedule, match="field 'hours': 25 is out of range 0-23") as caught:
        f.parse_field(25, f.HOUR, entry="cleanup", name="hours")
    assert caught.value.entry == "cleanup"
    assert caught.value.field == "hours"
