"""The one grammar for durations and times that people type: ``--for 1h30m``, ``--until T``.

A duration is plain seconds (``90``, ``1.5``) or numbers with units in the order days, hours,
minutes, seconds, each at most once: ``2d``, ``1.5h``, ``90m``, ``1h30m``, ``45s``. Case and
spaces don't matter. The ``dqueue`` command, the Django commands and the admin all read it here.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, tzinfo

from ..errors import InvalidTime

__all__ = ["UNTIL_RESUMED", "parse_duration", "parse_until", "until_resumed"]

#: How far ahead a pause "until resumed" reaches: a pause needs an end in every store.
UNTIL_RESUMED = timedelta(days=100 * 365)

_NUMBER = r"\d+(?:\.\d+)?"
_DURATION = re.compile("".join(f"(?:(?P<{unit}>{_NUMBER}){unit})?" for unit in "dhms"))
_SECONDS_PER_UNIT = {"d": 86400.0, "h": 3600.0, "m": 60.0, "s": 1.0}
_EXAMPLE_TIME = "2026-11-27T18:00:00+00:00"


def until_resumed(until: datetime, now: datetime) -> bool:
    """Whether a pause ending at ``until`` was asked without an end (it ends a century away).

    An end between 50 years and a century (a day's slack for clocks) from ``now`` counts: no one
    pauses a queue for 50 years, and an end even further away was typed (``--until 2999-01-01``).
    """
    return UNTIL_RESUMED / 2 < until - now <= UNTIL_RESUMED + timedelta(days=1)


def parse_duration(text: str) -> timedelta:
    """Read a duration of the grammar above; it must be longer than zero.

    Raises:
        InvalidTime: the text is no such duration, or it is zero.
    """
    cleaned = text.strip().lower().replace(" ", "")
    # A minus sign is read so that "-1" is refused for being negative, not for its syntax.
    if re.fullmatch(f"-?{_NUMBER}", cleaned):
        seconds = float(cleaned)
    else:
        match = _DURATION.fullmatch(cleaned)
        if not cleaned or match is None:
            raise InvalidTime(
                f"{text!r} is not a duration: use seconds (90) or days, hours, minutes and "
                "seconds such as 1h30m, 1.5h, 45s or 2d"
            )
        seconds = sum(float(match[unit] or 0) * size for unit, size in _SECONDS_PER_UNIT.items())
    if seconds <= 0:
        raise InvalidTime(f"{text!r} is not a duration: it must be more than 0 seconds")
    return timedelta(seconds=seconds)


def parse_until(text: str, *, now: datetime, default_tz: tzinfo | None = None) -> datetime:
    """Read an ISO 8601 time after ``now``; without an offset it is in ``default_tz``.

    Raises:
        InvalidTime: the text is not ISO 8601, it has no offset and there is no
            ``default_tz``, or the time is not after ``now``.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise InvalidTime(f"{text!r} is not an ISO 8601 time such as {_EXAMPLE_TIME}") from None
    if moment.utcoffset() is None:
        if default_tz is None:
            raise InvalidTime(f"{text!r} has no time zone: add one, e.g. {text.strip()}+00:00")
        moment = moment.replace(tzinfo=default_tz)
    if moment <= now:
        raise InvalidTime(f"{moment.isoformat()} is in the past")
    return moment
