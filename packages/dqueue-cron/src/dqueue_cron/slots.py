"""Which slots a scheduler enqueues on a tick: a pure function of the clock and a cursor.

A *slot* is one fire time of an entry, in whole UTC epoch seconds. A scheduler keeps a cursor
per entry: every slot up to it has been dealt with. On each tick it takes the slots after the
cursor up to ``now + lead`` (enqueued ahead, due at their own time). Slots that are more than
``grace`` seconds old by then, and at start-up every slot before ``now``, were *missed*
(no scheduler was running, or this one was stalled or cut off from the store): the entry's
catch-up policy decides which of those still run, within its catch-up window.

A scheduler starts with its cursor at the moment it starts; the slots missed before then are
worked out once (:func:`missed_at_start`) and kept until they are stored.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import tzinfo
from typing import Final

from .expression import CronExpression, last_instant_before

__all__ = ["MAX_CATCH_UP_SLOTS", "SlotPlan", "missed_at_start", "plan_slots", "start_cursor"]

#: ``all`` catches up at most this many missed slots per entry (the most recent ones).
MAX_CATCH_UP_SLOTS: Final = 10_000


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """The slots to enqueue now (ascending), how many of them are catch-up, the next cursor."""

    slots: tuple[int, ...]
    caught_up: int
    cursor: float


def start_cursor(now: float) -> float:
    """The cursor of a scheduler starting at ``now``: slots from ``now`` on are on time."""
    return math.ceil(now) - 0.5


def missed_at_start(
    expression: CronExpression, zone: tzinfo, *, now: float, catch_up: str, window: float
) -> tuple[int, ...]:
    """The slots before ``now`` that a scheduler starting at ``now`` catches up on."""
    return tuple(_missed(expression, zone, -math.inf, now, catch_up, now - window))


def plan_slots(
    expression: CronExpression,
    zone: tzinfo,
    *,
    cursor: float,
    now: float,
    lead: float,
    grace: float,
    catch_up: str,
    window: float,
) -> SlotPlan:
    """The slots to enqueue at ``now``, given that every slot up to ``cursor`` was dealt with."""
    late_edge = now - grace
    missed = _missed(expression, zone, cursor, late_edge, catch_up, now - window)
    on_time_after = max(cursor, math.ceil(late_edge) - 0.5)
    horizon = now + lead
    on_time = _between(expression, zone, on_time_after, horizon, inclusive=True)
    return SlotPlan(slots=(*missed, *on_time), caught_up=len(missed), cursor=max(horizon, cursor))


def _missed(
    expression: CronExpression,
    zone: tzinfo,
    after: float,
    before: float,
    catch_up: str,
    oldest: float,
) -> list[int]:
    """The slots in ``(after, before)`` (and not before ``oldest``) that ``catch_up`` keeps."""
    if catch_up == "latest":
        floor = oldest if after == -math.inf else max(oldest, math.floor(after) + 1)
        last = last_instant_before(expression, before, zone, floor)
        return [] if last is None else [last]
    if catch_up == "all":
        start = max(after, math.ceil(oldest) - 0.5)
        return _between(expression, zone, start, before, inclusive=False)[-MAX_CATCH_UP_SLOTS:]
    return []


def _between(
    expression: CronExpression, zone: tzinfo, after: float, end: float, *, inclusive: bool
) -> list[int]:
    """Fire instants strictly after ``after`` and before ``end`` (or at it, if inclusive)."""
    found: list[int] = []
    if after >= end:
        return found
    instant = expression.next_instant(after, zone)
    while instant < end or (inclusive and instant == end):
        found.append(instant)
        instant = expression.next_instant(instant, zone)
    return found
