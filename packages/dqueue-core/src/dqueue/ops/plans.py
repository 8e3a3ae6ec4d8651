"""The runner options, checked once for ``dqueue runner`` and ``manage.py queue_runner`` alike.

``--machine N --of M``, ``--exact-configuration`` (with ``--config FILE``) and ``--only-queue``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import UsageError
from ..pool import RunnerPlan, plan_runner
from ..registry import REGISTRY, TaskRegistry
from ..settings import Settings

__all__ = ["PlanOptions", "plan"]


@dataclass(frozen=True, slots=True, kw_only=True)
class PlanOptions:
    """What a runner was started with; ``config`` is the ``--config`` file, if any."""

    machine: int | None = None
    machines: int | None = None
    exact: bool = False
    only_queue: str | None = None
    config: str | None = None


def plan(
    settings: Settings,
    options: PlanOptions,
    *,
    extra_queues: Iterable[str] = (),
    registry: TaskRegistry = REGISTRY,
) -> RunnerPlan:
    """Check ``options`` (one clear line for a bad combination), then plan the slots.

    Raises:
        UsageError: a bad combination of options.
        ConfigurationError: an unknown ``only_queue`` (see :func:`dqueue.pool.plan_runner`).
    """
    if options.exact:
        if not options.config:
            raise UsageError("--exact-configuration needs --config FILE: the workers to run here")
        given = {"--machine": options.machine, "--of": options.machines}
        named = [option for option, value in given.items() if value is not None]
        named += ["--only-queue"] if options.only_queue is not None else []
        if named:
            raise UsageError(f"--exact-configuration cannot be combined with {', '.join(named)}")
        return plan_runner(settings, exact=True, registry=registry)
    if (options.machine is None) != (options.machines is None):
        raise UsageError("--machine and --of go together: --machine N --of M")
    machine, machines = options.machine or 1, options.machines or 1
    if not 1 <= machine <= machines:
        raise UsageError(f"--machine must be between 1 and --of ({machines}), not {machine}")
    return plan_runner(
        settings,
        machine=machine,
        machines=machines,
        only_queue=options.only_queue,
        extra_queues=extra_queues,
        registry=registry,
    )
