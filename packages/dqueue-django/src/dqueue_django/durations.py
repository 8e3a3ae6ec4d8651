"""Reading the times that ``queue_pause`` takes: ``--for 1h2m3s`` and ``--until ISO8601``."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, tzinfo

from dqueue.errors import DQueueError

__all__ = ["TimeError", "parse_duration", "parse_until"]

_DURATION = re.compile(r"^(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+(?:\.\d+)?)s)?$")


class TimeError(DQueueError, ValueError):
    """A duration or a time given on the command line cannot be used."""


def parse_duration(text: str) -> timedelta:
    """Read ``1h2m3s`` (any part optional, in that order) or plain seconds (``90``).

    Raises:
        TimeError: the text is not such a duration, or it is zero.
    """
    cleaned = text.strip().lower().replace(" ", "")
    if re.fullmatch(r"\d+(?:\.\d+)?", cleaned):
        duration = timedelta(seconds=float(cleaned))
    else:
        match = _DURATION.match(cleaned)
        if not cleaned or match is None:
            raise TimeError(
                f"{text!r} is not a duration: use hours, minutes and seconds such as 1h2m3s, "
                "45m or 90s"
            )
        duration = timedelta(
            hours=int(match["h"] or 0),
            minutes=int(match["m"] or 0),
            seconds=float(match["s"] or 0),
        )
    if duration <= timedelta(0):
        raise TimeError(f"{text!r} is not a duration longer than zero")
    return duration


def parse_until(text: str, *, now: datetime, default_tz: tzinfo = UTC) -> datetime:
    """Read an ISO 8601 time; a time without an offset is in ``default_tz``.

    Raises:
        TimeError: the text is not ISO 8601, or the time is not after ``now``.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise TimeError(
            f"{text!r} is not an ISO 8601 time such as 2026-11-27T18:00:00+00:00"
        ) from exc
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=default_tz)
    if moment <= now:
        raise TimeError(f"refusing to pause until {moment.isoformat()}: that is in the past")
    return moment
