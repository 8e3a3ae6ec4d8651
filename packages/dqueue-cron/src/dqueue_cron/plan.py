"""An entry with every default filled in, the jobs that run its slots, and which slots are due.

A *slot* is one fire time of an entry, in whole UTC epoch seconds. Its job carries the unique
key ``cron:<entry>:<slot>``, taken for longer than any scheduler will try that slot, so one
of any number of schedulers stores it. A scheduler keeps a cursor per entry (every slot up to
it was dealt with) and on each tick takes the slots after it up to ``now + lead``. Slots more
than ``GRACE_S`` seconds old by then, and at start-up every slot before ``now``, were *missed*:
the entry's catch-up policy decides which of those still run, within its catch-up window.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import tzinfo
from typing import Final

from dqueue.errors import TaskNotRegistered
from dqueue.job import Job, new_job_id
from dqueue.registry import TaskRegistry
from dqueue.settings import Settings
from dqueue.task import TaskOptions

from .config import CronSettings
from .entry import CronEntry
from .errors import InvalidCronEntry
from .expression import last_instant_before
from .schedule import resolve_zone

__all__ = ["CLAIM_TASK", "DEFAULT_LEAD_S", "GRACE_S", "KEY_MARGIN_S", "EntryPlan"]

#: The marker task of :mod:`dqueue_cron.tasks` (named, not imported: see that module).
CLAIM_TASK: Final = "dqueue_cron.tasks.claim_slot"
#: Extra seconds a slot's key stays taken, beyond the last moment a scheduler would try the
#: slot: covers clocks of different machines that disagree by up to this much.
KEY_MARGIN_S: Final = 3600.0
#: Seconds ahead of its time a slot is enqueued (due at its time), so that it starts with a
#: delayed job's precision rather than that of the scheduler's wake-ups.
DEFAULT_LEAD_S: Final = 2.0
#: A slot this many seconds old when its scheduler gets to it still runs as on time; older,
#: it was missed and the catch-up policy decides.
GRACE_S: Final = 60.0
#: ``all`` catches up at most this many missed slots per entry (the most recent ones).
MAX_CATCH_UP_SLOTS: Final = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryPlan:
    """An entry resolved against the settings and its task: everything its jobs need."""

    entry: CronEntry
    zone: tzinfo
    catch_up: str
    window: float
    lead: float
    #: What every job of the entry shares; each slot's job adds its id, times, key and meta.
    template: Job

    @classmethod
    def build(
        cls,
        entry: CronEntry,
        settings: Settings,
        *,
        registry: TaskRegistry | None = None,
        lead: float = DEFAULT_LEAD_S,
    ) -> EntryPlan:
        """Resolve ``entry``: settings fill its unset options, then its task's options.

        With a ``registry``, the task is looked up (importing its module), so that a typo in
        a task name fails at start-up rather than in a worker at the first slot.

        Raises:
            InvalidCronEntry: the task is not registered, or the time zone is unknown.
        """
        task = TaskOptions()  # without a registry, the options of a task that sets none
        if registry is not None:
            try:
                task = registry.load(entry.task_name).options
            except TaskNotRegistered as exc:
                raise InvalidCronEntry(str(exc), entry=entry.name, field="task") from exc
        cron = settings.section(CronSettings)
        window = entry.catch_up_window
        if window is None:
            window = cron.CRON_CATCH_UP_WINDOW
        # A guarded slot is enqueued at its time, not ahead: the previous run may still finish
        # before then.
        lead = 0.0 if entry.prevent_overlap else lead
        max_attempts = entry.max_attempts or task.max_attempts or settings.DEFAULT_MAX_ATTEMPTS
        template = Job(
            id="",
            task=entry.task_name,
            queue=entry.queue or cron.CRON_QUEUE,
            args=entry.args,
            kwargs=dict(entry.kwargs),
            max_attempts=max_attempts,
            timeout=task.timeout if entry.timeout is None else entry.timeout,
            sigkill_on_stop=(
                task.sigkill_on_stop if entry.sigkill_on_stop is None else entry.sigkill_on_stop
            ),
            # The overlap key is held until the run settles; a slot key for a fixed time.
            unique_for=None if entry.prevent_overlap else _unique_for(window, lead),
            priority=task.priority,
            result_ttl=(task.result_ttl or settings.RESULT_TTL) if task.store_result else None,
        )
        return cls(
            entry=entry,
            zone=resolve_zone(entry.timezone or cron.CRON_TIMEZONE, entry=entry.name),
            catch_up=entry.catch_up or cron.CRON_CATCH_UP,
            window=window,
            lead=lead,
            template=template,
        )

    def job(self, slot: int, now: float) -> Job:
        """The job that runs ``slot``, due at the slot's time."""
        name, guarded = self.entry.name, self.entry.prevent_overlap
        return self.template.with_changes(
            id=new_job_id(),
            enqueued_at=now,
            run_after=float(slot),
            unique_key=f"cron-running:{name}" if guarded else f"cron:{name}:{slot}",
            meta={"cron": {"entry": name, "slot": slot}},
        )

    def claim(self, slot: int, now: float) -> Job:
        """The marker job that takes ``slot``'s key for an entry with ``prevent_overlap``."""
        return Job(
            id=new_job_id(),
            task=CLAIM_TASK,
            queue=self.template.queue,
            args=(self.entry.name, slot),
            enqueued_at=now,
            max_attempts=1,
            unique_key=f"cron:{self.entry.name}:{slot}",
            unique_for=_unique_for(self.window, self.lead),
            meta={"cron": {"entry": self.entry.name, "slot": slot}},
        )

    # -- which slots ---------------------------------------------------------------------------

    def missed_at_start(self, now: float) -> tuple[int, ...]:
        """The slots before ``now`` that a scheduler starting at ``now`` catches up on."""
        return tuple(self._missed(-math.inf, now, now))

    def due(self, cursor: float, now: float) -> tuple[list[int], list[int], float]:
        """The slots to enqueue at ``now``, every slot up to ``cursor`` having been dealt with.

        Returns the missed slots the catch-up policy keeps and the slots on time (each
        ascending), and the next cursor.
        """
        late_edge = now - GRACE_S
        missed = self._missed(cursor, late_edge, now)
        horizon = now + self.lead
        on_time = self._between(max(cursor, math.ceil(late_edge) - 0.5), horizon, inclusive=True)
        return missed, on_time, max(horizon, cursor)

    def _missed(self, after: float, before: float, now: float) -> list[int]:
        """The slots in ``(after, before)``, within the window, that the policy keeps."""
        oldest = now - self.window
        if self.catch_up == "latest":
            floor = oldest if after == -math.inf else max(oldest, math.floor(after) + 1)
            last = last_instant_before(self.entry.expression, before, self.zone, floor)
            return [] if last is None else [last]
        if self.catch_up == "all":
            start = max(after, math.ceil(oldest) - 0.5)
            return self._between(start, before, inclusive=False)[-MAX_CATCH_UP_SLOTS:]
        return []

    def _between(self, after: float, end: float, *, inclusive: bool) -> list[int]:
        """Fire instants strictly after ``after`` and before ``end`` (or at it, if inclusive)."""
        found: list[int] = []
        if after >= end:
            return found
        instant = self.entry.expression.next_instant(after, self.zone)
        while instant < end or (inclusive and instant == end):
            found.append(instant)
            instant = self.entry.expression.next_instant(instant, self.zone)
        return found


def _unique_for(window: float, lead: float) -> float:
    """Seconds each slot's key stays taken."""
    return max(window, GRACE_S) + lead + KEY_MARGIN_S
