"""Which slots a scheduler enqueues on a tick: a pure function of the clock and a cursor.

A *slot* is one fire time of an entry, in whole UTC epoch seconds. A scheduler keeps a cursor
per entry: every slot up to it has been dealt with. On each tick it takes the slots after the
cursor up to ``now + lead`` (enqueued ahead, due at their own time). Slots that are more than
``grace`` seconds old by then, and on the first tick every slot before ``now``, were *missed*
(no scheduler was running, or this one was stalled or cut off from the store): the entry's
catch-up policy decides which of those still run, within its catch-up window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import tzinfo
from typing import Final

from .expression import CronExpression, last_instant_before

__all__ = ["MAX_CATCH_UP_SLOTS", "SlotPlan", "plan_slots"]

#: ``all`` catches up at most this many missed slots per entry (the most recent ones).
MAX_CATCH_UP_SLOTS: Final = 10_000


@dataclass(frozen=True, slots=True)
class SlotPlan:
    """The slots to enqueue now (ascending), how many of them are catch-up, the next cursor."""

    slots: tuple[int, ...]
    caught_up: int
    cursor: float


def plan_slots(
    expression: CronExpression,
    zone: tzinfo,
    *,
    cursor: float | None,
    now: float,
    lead: float,
    grace: float,
    catch_up: str,
    window: float,
) -> SlotPlan:
    """The slots to enqueue at ``now``, given everything up to ``cursor`` was dealt with.

    ``cursor=None`` means a first tick: every slot before ``now`` counts as missed.
    """
    horizon = now + lead
    if cursor is None:
        missed_after, missed_before, on_time_after = -math.inf, now, now - 0.5
    else:
        missed_after, missed_before = cursor, now - grace
        on_time_after = max(cursor, math.ceil(missed_before) - 0.5)
    oldest = now - window
    missed: list[int] = []
    if catch_up == "latest":
        floor = oldest if math.isinf(missed_after) else max(oldest, math.floor(missed_after) + 1)
        last = last_instant_before(expression, missed_before, zone, floor)
        missed = [] if last is None else [last]
    elif catch_up == "all":
        start = max(missed_after, math.ceil(oldest) - 0.5)
        missed = _between(expression, zone, start, missed_before, inclusive=False)
        missed = missed[-MAX_CATCH_UP_SLOTS:]
    on_time = _between(expression, zone, on_time_after, horizon, inclusive=True)
    next_cursor = horizon if cursor is None else max(horizon, cursor)
    return SlotPlan(slots=(*missed, *on_time), caught_up=len(missed), cursor=next_cursor)


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
