"""Which worker slots a runner starts: the pool split of ``--machine N --of M``.

``DQUEUE_WORKERS`` gives the number of workers of each queue for the whole pool of machines.
Every worker is a *slot* ``(queue, number)``, numbered from 1 within its queue. The split:

1. List every slot in a fixed order: queues sorted by name, then worker numbers ascending.
   Call the position of a slot in that list ``j`` (0-based).
2. Slot ``j`` runs on machine ``(j mod M) + 1``.

So with ``{"queue1": 3}`` and ``--of 3``, machine 1 runs ``queue1/1``, machine 2 ``queue1/2``
and machine 3 ``queue1/3``; with ``{"a": 2, "b": 3}`` and ``--of 2``, machine 1 runs ``a/1``,
``b/1``, ``b/3`` and machine 2 runs ``a/2``, ``b/2``. Every slot runs on exactly one machine,
as long as every machine has the same settings and tasks (the split is computed, not agreed).

``--only-queue Q`` keeps this machine's slots of ``Q`` *after* the split, so runners started
with ``--only-queue`` on every machine still partition ``Q``'s workers between them.

``--exact-configuration`` skips the split: every slot of the (``--config``) counts runs here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from .errors import ConfigurationError
from .registry import REGISTRY, TaskRegistry
from .settings import Settings

__all__ = [
    "RunnerPlan",
    "WorkerSlot",
    "exact_slots",
    "plan_runner",
    "pooled_slots",
    "queue_counts",
]


@dataclass(frozen=True, slots=True, order=True)
class WorkerSlot:
    """One worker of the pool: the ``number``-th (1-based) worker of ``queue``."""

    queue: str
    number: int

    def __str__(self) -> str:
        return f"{self.queue}/{self.number}"


def queue_counts(
    settings: Settings,
    extra_queues: Iterable[str] = (),
    *,
    registry: TaskRegistry = REGISTRY,
) -> dict[str, int]:
    """The number of workers of every queue in the pool.

    ``DQUEUE_WORKERS`` as configured, plus one worker for every queue that registered tasks
    use, or that ``extra_queues`` names (the cron queue, for example), when ``DQUEUE_WORKERS``
    does not mention it. The settings are not changed. A queue configured with 0 workers stays
    at 0: that is how a queue is served elsewhere or not at all.
    """
    counts = dict(settings.WORKERS)
    for queue in [*sorted(registry.queues()), *extra_queues]:
        counts.setdefault(queue, 1)
    return dict(sorted(counts.items()))


def exact_slots(counts: Mapping[str, int]) -> list[WorkerSlot]:
    """Every slot of ``counts`` in split order (queues by name, then worker number).

    All of them run on this machine with ``--exact-configuration``; :func:`pooled_slots` splits
    this list between machines.
    """
    return [
        WorkerSlot(queue, number)
        for queue in sorted(counts)
        for number in range(1, counts[queue] + 1)
    ]


def pooled_slots(
    counts: Mapping[str, int],
    machine: int,
    machines: int,
    only_queue: str | None = None,
) -> list[WorkerSlot]:
    """The slots that machine ``machine`` of ``machines`` runs (see the module docstring).

    Raises:
        ConfigurationError: the machine numbers are invalid, or ``only_queue`` is not a queue
            of ``counts``.
    """
    if machines < 1:
        raise ConfigurationError(f"the number of machines (--of) must be 1 or more, not {machines}")
    if not 1 <= machine <= machines:
        raise ConfigurationError(
            f"the machine number (--machine) must be between 1 and {machines} (--of), not {machine}"
        )
    if only_queue is not None and only_queue not in counts:
        known = ", ".join(sorted(counts)) or "none"
        raise ConfigurationError(
            f"--only-queue {only_queue!r} is not a known queue (known: {known})"
        )
    mine = [slot for j, slot in enumerate(exact_slots(counts)) if j % machines + 1 == machine]
    if only_queue is not None:
        mine = [slot for slot in mine if slot.queue == only_queue]
    return mine


@dataclass(frozen=True, slots=True, kw_only=True)
class RunnerPlan:
    """What one runner runs: its slots, out of which pool, and whether it hosts services."""

    #: Workers per queue in the whole pool (for an exact configuration: on this machine).
    counts: Mapping[str, int]
    #: The slots this machine runs.
    slots: tuple[WorkerSlot, ...]
    machine: int = 1
    machines: int = 1
    exact: bool = False
    only_queue: str | None = None
    #: Whether this runner hosts the services (cron): never with an exact configuration.
    run_services: bool = True

    @property
    def description(self) -> str:
        """``machine 2 of 3``, ``exact configuration``, with ``only queue Q`` when given."""
        text = "exact configuration" if self.exact else f"machine {self.machine} of {self.machines}"
        if self.only_queue is not None:
            text += f", only queue {self.only_queue}"
        return text

    @property
    def here(self) -> dict[str, int]:
        """Workers per queue on this machine."""
        return dict(Counter(slot.queue for slot in self.slots))


def plan_runner(
    settings: Settings,
    *,
    machine: int = 1,
    machines: int = 1,
    exact: bool = False,
    only_queue: str | None = None,
    extra_queues: Iterable[str] = (),
    registry: TaskRegistry = REGISTRY,
) -> RunnerPlan:
    """Decide what a runner started with these options runs.

    Pooled (the default): the counts of :func:`queue_counts` (``DQUEUE_WORKERS`` plus implied
    queues and ``extra_queues``, such as the cron queue), split by :func:`pooled_slots`; the
    runner hosts services unless ``only_queue`` names a queue other than ``extra_queues``'.
    Exact: ``DQUEUE_WORKERS`` as it is, every slot here, no implied queues and no services.

    ``machine``, ``machines`` and ``only_queue`` don't apply to an exact plan
    (:func:`dqueue.ops.plan` refuses them with it).

    Raises:
        ConfigurationError: invalid machine numbers or an unknown ``only_queue``.
    """
    extra = tuple(extra_queues)
    if exact:
        counts = dict(sorted(settings.WORKERS.items()))
        return RunnerPlan(
            counts=counts, slots=tuple(exact_slots(counts)), exact=True, run_services=False
        )
    counts = queue_counts(settings, extra, registry=registry)
    slots = pooled_slots(counts, machine, machines, only_queue)
    return RunnerPlan(
        counts=counts,
        slots=tuple(slots),
        machine=machine,
        machines=machines,
        only_queue=only_queue,
        run_services=only_queue is None or only_queue in extra,
    )
