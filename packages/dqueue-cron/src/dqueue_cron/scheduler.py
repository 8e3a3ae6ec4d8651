"""``CronScheduler``: the service that enqueues each entry's slots, once, from every runner.

Every pooled runner hosts one; no leader is needed, because a slot's unique key lets the
backend store the first enqueue and refuse the rest (see :mod:`dqueue_cron.plan`). A store
that fails is logged and retried with backoff while the slots wait.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import Final, Literal

from dqueue.backends import get_backend
from dqueue.backends.base import Backend
from dqueue.backoff import backoff_delay
from dqueue.clock import SYSTEM_CLOCK, Clock
from dqueue.registry import REGISTRY, TaskRegistry
from dqueue.services import ThreadedService
from dqueue.settings import Settings

from .config import check_unique_names
from .entry import CronEntry
from .plan import DEFAULT_LEAD_S, GRACE_S, EntryPlan

__all__ = ["CronScheduler", "SlotOutcome"]

_logger = logging.getLogger("dqueue.cron")

#: The longest the scheduler sleeps, so that a clock that jumps is noticed.
_MAX_SLEEP_S: Final = 30.0
_BACKOFF_FIRST_S: Final = 0.5
_BACKOFF_MAX_S: Final = 30.0

#: ``enqueued``: this scheduler stored the slot's job; ``taken``: another scheduler had;
#: ``skipped``: the previous run of a ``prevent_overlap`` entry was still unfinished.
Result = Literal["enqueued", "taken", "skipped"]


@dataclass(frozen=True, slots=True)
class SlotOutcome:
    """What one scheduler did with one slot."""

    entry: str
    slot: int
    result: Result
    job_id: str
    caught_up: bool = False


@dataclass
class _State:
    plan: EntryPlan
    cursor: float | None = None
    #: Slots missed before start-up that the catch-up policy keeps, until they are stored.
    catching_up: tuple[int, ...] = ()
    failures: int = 0
    retry_at: float | None = None
    #: Slots whose marker this scheduler won but whose job it has not stored yet.
    claimed: set[int] = field(default_factory=set)


class CronScheduler(ThreadedService):
    """Enqueues every slot of ``entries`` exactly once across any number of schedulers.

    Args:
        entries: the entries to schedule (disabled ones are ignored).
        settings: the effective settings (default queue, zone, catch-up policy).
        clock: the time source; tests pass a :class:`~dqueue.clock.ManualClock` and call
            :meth:`tick` themselves.
        backend: where jobs go: one backend for every queue, or a function from queue name
            to backend (``dqueue.backends.get_backend`` by default).
        registry: where entries' tasks are looked up at start-up (``None`` skips the check).
        lead: seconds ahead of its time a slot is enqueued.

    Raises:
        InvalidCronEntry: an entry's task is not registered, its zone is unknown, or two
            entries share a name.
    """

    def __init__(
        self,
        entries: Sequence[CronEntry],
        *,
        settings: Settings,
        clock: Clock = SYSTEM_CLOCK,
        backend: Backend | Callable[[str], Backend] | None = None,
        registry: TaskRegistry | None = REGISTRY,
        lead: float = DEFAULT_LEAD_S,
    ) -> None:
        check_unique_names(entries)
        super().__init__("cron", _logger)
        self.settings = settings
        self._registry = registry
        self.clock = clock
        if isinstance(backend, Backend):
            self._backend_for: Callable[[str], Backend] = lambda queue: backend
        else:
            self._backend_for = backend or partial(get_backend, settings=settings)
        self._states = [
            _State(EntryPlan.build(entry, settings, registry=registry, lead=lead))
            for entry in entries
            if entry.enabled
        ]

    @property
    def queues(self) -> frozenset[str]:
        """The queues of the enabled entries (each gets a worker in a runner's pool)."""
        return frozenset(state.plan.template.queue for state in self._states)

    @property
    def plans(self) -> list[EntryPlan]:
        """The scheduled entries, resolved."""
        return [state.plan for state in self._states]

    # -- the service -----------------------------------------------------------------------

    def start(self) -> None:
        """Start scheduling in a daemon thread."""
        names = ", ".join(state.plan.entry.name for state in self._states) or "none"
        _logger.info("cron: scheduling %d entries (%s)", len(self._states), names)
        self._log_queues()
        super().start()

    def _log_queues(self) -> None:
        """Say where an entry runs when its task names another queue: a surprise otherwise."""
        for state in self._states:
            entry, queue = state.plan.entry, state.plan.template.queue
            task = None if self._registry is None else self._registry.get(entry.task_name)
            if entry.queue is None and task is not None and task.options.queue != queue:
                _logger.info(
                    "cron: entry %r runs on queue %r (DQUEUE_CRON_QUEUE), not on its task's "
                    "queue %r: give the entry queue=%r to run it there",
                    entry.name,
                    queue,
                    task.options.queue,
                    task.options.queue,
                )

    # -- one pass ----------------------------------------------------------------------------

    def tick(self) -> list[SlotOutcome]:
        """Enqueue every slot that is due (or due within the lead); report what happened.

        The first tick also catches up on slots missed before it, per each entry's policy.
        An entry whose store fails is logged and retried with backoff; others carry on.
        """
        now = self.clock.time()
        outcomes: list[SlotOutcome] = []
        for state in self._states:
            if state.retry_at is not None and now < state.retry_at:
                continue
            outcomes.extend(self._tick_entry(state, now))
        self.delay_s = self.seconds_until_due()
        return outcomes

    def _tick_entry(self, state: _State, now: float) -> list[SlotOutcome]:
        plan, name = state.plan, state.plan.entry.name
        if state.cursor is None:  # start-up: work out the missed slots once
            state.catching_up = plan.missed_at_start(now)
            state.cursor = math.ceil(now) - 0.5  # slots from `now` on are on time
        missed, on_time, cursor = plan.due(state.cursor, now)
        # A slot run within the grace is on time, at start-up too: a scheduler that starts 30 s
        # after a slot has missed nothing.
        caught_up = {slot for slot in (*state.catching_up, *missed) if slot < now - GRACE_S}
        slots = sorted({*state.catching_up, *missed, *on_time})
        outcomes: list[SlotOutcome] = []
        try:
            if plan.entry.prevent_overlap:
                for slot in slots:
                    outcomes.append(self._enqueue_guarded(state, slot, now, slot in caught_up))
                    state.catching_up = tuple(s for s in state.catching_up if s != slot)
                    state.cursor = max(float(slot), state.cursor)
            elif slots:
                jobs = [plan.job(slot, now) for slot in slots]
                stored = self._backend_for(plan.template.queue).enqueue_many(jobs)
                for slot, job, job_id in zip(slots, jobs, stored, strict=True):
                    result: Result = "enqueued" if job_id == job.id else "taken"
                    outcomes.append(SlotOutcome(name, slot, result, job_id, slot in caught_up))
        except Exception as exc:
            state.failures += 1
            delay = backoff_delay(state.failures, base_s=_BACKOFF_FIRST_S, max_s=_BACKOFF_MAX_S)
            state.retry_at = now + delay
            _logger.warning(
                "cron: entry %r: could not enqueue (%s: %s); retrying in %.1fs",
                name,
                type(exc).__name__,
                exc,
                delay,
                exc_info=state.failures == 1,
            )
            return outcomes
        if state.failures:
            _logger.info("cron: entry %r: the store works again", name)
        state.failures, state.retry_at, state.cursor, state.catching_up = 0, None, cursor, ()
        # A slot whose key was taken ran already (another scheduler, or this one before a
        # restart): only those stored here were missed.
        if missed_here := sum(o.caught_up and o.result == "enqueued" for o in outcomes):
            _logger.info("cron: entry %r: caught up %d missed slot(s)", name, missed_here)
        _logger.debug("cron: entry %r: %s", name, outcomes)
        return outcomes

    def _enqueue_guarded(
        self, state: _State, slot: int, now: float, caught_up: bool
    ) -> SlotOutcome:
        plan, name = state.plan, state.plan.entry.name
        backend = self._backend_for(plan.template.queue)
        if slot not in state.claimed:
            claim = plan.claim(slot, now)
            holder = backend.enqueue(claim)
            if holder != claim.id:
                return SlotOutcome(name, slot, "taken", holder, caught_up)
            state.claimed.add(slot)
        job = plan.job(slot, now)
        holder = backend.enqueue(job)
        state.claimed.discard(slot)
        if holder != job.id:
            _logger.info(
                "cron: entry %r: skipped slot %d: the previous run (%s) has not finished",
                name,
                slot,
                holder,
            )
            return SlotOutcome(name, slot, "skipped", holder, caught_up)
        return SlotOutcome(name, slot, "enqueued", job.id, caught_up)

    # -- timing ------------------------------------------------------------------------------

    def seconds_until_due(self) -> float:
        """How long the scheduler may sleep before something is due (at most 30 s)."""
        now = self.clock.time()
        soonest = _MAX_SLEEP_S
        for state in self._states:
            if state.retry_at is not None:
                soonest = min(soonest, state.retry_at - now)
                continue
            if state.cursor is None or state.catching_up:
                return 0.0  # not started, or catch-up slots are waiting to be stored
            plan = state.plan
            upcoming = plan.entry.expression.next_instant(state.cursor, plan.zone)
            soonest = min(soonest, upcoming - plan.lead - now)
        return max(soonest, 0.0)
