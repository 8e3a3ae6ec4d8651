"""An entry with every default filled in, and the jobs that run its slots.

Exactly once per slot: every job of a slot carries the unique key ``cron:<entry>:<slot>``,
taken for ``unique_for`` seconds, longer than any scheduler will try that slot (its catch-up
window, plus the lead and grace, plus an hour for clocks that disagree). Backends make an
enqueue with a taken key a no-op, atomically, so one of any number of schedulers wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any, Final

from dqueue.errors import TaskNotRegistered
from dqueue.job import Job, new_job_id
from dqueue.registry import TaskRegistry
from dqueue.settings import Settings

from .config import CronSettings
from .entry import CronEntry
from .errors import InvalidCronEntry
from .expression import CronExpression
from .zones import resolve_zone

__all__ = ["CLAIM_TASK", "KEY_MARGIN_S", "EntryPlan", "overlap_key", "slot_key"]

#: The marker task of :mod:`dqueue_cron.tasks` (named, not imported: see that module).
CLAIM_TASK: Final = "dqueue_cron.tasks.claim_slot"

#: Extra seconds a slot's key stays taken, beyond the last moment a scheduler would try the
#: slot: covers clocks of different machines that disagree by up to this much.
KEY_MARGIN_S: Final = 3600.0


def slot_key(entry: str, slot: int) -> str:
    """The unique key of one slot of one entry."""
    return f"cron:{entry}:{slot}"


def overlap_key(entry: str) -> str:
    """The unique key an entry with ``prevent_overlap`` holds while a run is unfinished."""
    return f"cron-running:{entry}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EntryPlan:
    """An entry resolved against the settings and its task: everything a job needs."""

    entry: CronEntry
    zone: tzinfo
    queue: str
    catch_up: str
    window: float
    timeout: float | None
    sigkill_on_stop: bool
    max_attempts: int
    priority: int
    result_ttl: float | None
    lead: float
    grace: float

    @property
    def name(self) -> str:
        """The entry's name."""
        return self.entry.name

    @property
    def expression(self) -> CronExpression:
        """The entry's schedule."""
        return self.entry.expression

    @property
    def unique_for(self) -> float:
        """Seconds each slot's key stays taken."""
        return max(self.window, self.grace) + self.lead + KEY_MARGIN_S

    @classmethod
    def build(
        cls,
        entry: CronEntry,
        settings: Settings,
        *,
        registry: TaskRegistry | None,
        lead: float,
        grace: float,
    ) -> EntryPlan:
        """Resolve ``entry``: settings fill its unset options, then its task's options.

        With a ``registry``, the task is looked up (importing its module), so that a typo in
        a task name fails at start-up rather than in a worker at the first slot.

        Raises:
            InvalidCronEntry: the task is not registered, or the time zone is unknown.
        """
        options: dict[str, Any] = {}
        if registry is not None:
            try:
                task = registry.resolve(entry.task_name)
            except TaskNotRegistered as exc:
                raise InvalidCronEntry(str(exc), entry=entry.name, field="task") from exc
            task_options = task.options
            options = {
                "timeout": task_options.timeout,
                "sigkill_on_stop": task_options.sigkill_on_stop,
                "max_attempts": task_options.max_attempts,
                "priority": task_options.priority,
                "result_ttl": (
                    (task_options.result_ttl or settings.RESULT_TTL)
                    if task_options.store_result
                    else None
                ),
            }
        cron = settings.section(CronSettings)
        return cls(
            entry=entry,
            zone=resolve_zone(entry.timezone or cron.CRON_TIMEZONE, entry=entry.name),
            queue=entry.queue or cron.CRON_QUEUE,
            catch_up=entry.catch_up or cron.CRON_CATCH_UP,
            window=(
                entry.catch_up_window
                if entry.catch_up_window is not None
                else cron.CRON_CATCH_UP_WINDOW
            ),
            timeout=entry.timeout if entry.timeout is not None else options.get("timeout"),
            sigkill_on_stop=_first(entry.sigkill_on_stop, options.get("sigkill_on_stop"), False),
            max_attempts=_first(
                entry.max_attempts, options.get("max_attempts"), settings.DEFAULT_MAX_ATTEMPTS
            ),
            priority=int(options.get("priority") or 0),
            result_ttl=options.get("result_ttl"),
            # A guarded slot is enqueued at its time, not ahead: the previous run may still
            # finish before then.
            lead=0.0 if entry.prevent_overlap else lead,
            grace=grace,
        )

    def _meta(self, slot: int) -> Mapping[str, Any]:
        return {"cron": {"entry": self.name, "slot": slot}}

    def job(self, slot: int, now: float) -> Job:
        """The job that runs ``slot``, due at the slot's time."""
        entry = self.entry
        guarded = entry.prevent_overlap
        return Job(
            id=new_job_id(),
            task=entry.task_name,
            queue=self.queue,
            args=entry.args,
            kwargs=dict(entry.kwargs),
            enqueued_at=now,
            run_after=float(slot),
            max_attempts=self.max_attempts,
            timeout=self.timeout,
            sigkill_on_stop=self.sigkill_on_stop,
            unique_key=overlap_key(self.name) if guarded else slot_key(self.name, slot),
            # The overlap key is held until the run settles; a slot key for a fixed time.
            unique_for=None if guarded else self.unique_for,
            priority=self.priority,
            result_ttl=self.result_ttl,
            meta=self._meta(slot),
        )

    def claim(self, slot: int, now: float) -> Job:
        """The marker job that takes ``slot``'s key for an entry with ``prevent_overlap``."""
        return Job(
            id=new_job_id(),
            task=CLAIM_TASK,
            queue=self.queue,
            args=(self.name, slot),
            enqueued_at=now,
            max_attempts=1,
            unique_key=slot_key(self.name, slot),
            unique_for=self.unique_for,
            meta=self._meta(slot),
        )


def _first(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)
