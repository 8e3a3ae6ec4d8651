from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from dqueue_django.durations import TimeError, parse_duration, parse_until

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1h2m3s", timedelta(hours=1, minutes=2, seconds=3)),
        ("1h", timedelta(hours=1)),
        ("45m", timedelta(minutes=45)),
        ("90s", timedelta(seconds=90)),
        ("2h30s", timedelta(hours=2, seconds=30)),
        ("90", timedelta(seconds=90)),
        ("1.5s", timedelta(seconds=1.5)),
        (" 1H 5M ", timedelta(hours=1, minutes=5)),
    ],
)
def test_durations_are_read_in_hours_minutes_and_seconds(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "1d", "5m1h", "-5s", "0s", "0"])
def test_what_is_not_a_positive_duration_is_refused(text: str) -> None:
    with pytest.raises(TimeError):
        parse_duration(text)


def test_an_iso_time_with_an_offset_is_read_as_given() -> None:
    moment = parse_until("2026-11-27T18:00:00+01:00", now=NOW)

    assert moment == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def test_an_iso_time_without_an_offset_is_in_the_default_zone() -> None:
    zone = timezone(timedelta(hours=-5))

    moment = parse_until("2026-11-27T18:00:00", now=NOW, default_tz=zone)

    assert moment == datetime(2026, 11, 27, 23, 0, tzinfo=UTC)


def test_a_time_in_the_past_is_refused() -> None:
    with pytest.raises(TimeError, match="in the past"):
        parse_until("2026-11-27T11:59:59+00:00", now=NOW)


def test_a_time_that_is_not_iso_is_refused() -> None:
    with pytest.raises(TimeError, match="ISO 8601"):
        parse_until("tomorrow", now=NOW)
