"""``dqueue runner``, ``dqueue worker``, ``dqueue configuration`` and ``dqueue demo``."""

from __future__ import annotations

import argparse
import json
import logging
import os
from typing import TYPE_CHECKING

from .. import ops
from ..backends import get_backend
from ..errors import ConfigurationError
from ..logs import configure_logging
from ..registry import REGISTRY
from ..services import Service, registered_services
from ..settings import Settings
from ..worker import Worker
from .parser import plan_options, worker_settings

if TYPE_CHECKING:
    from ..pool import RunnerPlan

# The runner, the pool split and the status tables are imported by the commands that use them:
# `dqueue worker`, the most common process of all, stays as small as it can.

_logger = logging.getLogger("dqueue.runner")

__all__ = ["configuration", "demo", "runner", "worker"]


def _plan(args: argparse.Namespace) -> tuple[RunnerPlan, list[Service]]:
    """Check the runner options and plan the slots, with the services this runner hosts.

    A bad combination of options is one clear line; each queue a plugin's service feeds
    (cron's) gets a worker.
    """
    settings: Settings = args.settings
    services = [] if args.exact_configuration else registered_services(settings)
    extra = sorted({queue for service in services for queue in service.queues})
    plan = ops.plan(settings, plan_options(vars(args)), extra_queues=extra)
    return plan, services if plan.run_services else []


def _passthrough(args: argparse.Namespace) -> list[str]:
    """The global options a worker process needs to see what the runner sees."""
    extra: list[str] = []
    if args.config:
        extra += ["--config", os.path.abspath(args.config)]
    for module in args.tasks:
        extra += ["--tasks", module]
    if args.log_level:
        extra += ["--log-level", args.log_level]
    return extra


def runner(args: argparse.Namespace) -> int:
    """``dqueue runner``: run this machine's worker slots (and services) until stopped."""
    from ..runner import Runner, python_worker_command

    settings: Settings = args.settings
    plan, services = _plan(args)
    if not any(plan.counts.values()):
        raise ConfigurationError(
            "no worker to run: DQUEUE_WORKERS is empty and no task module was imported "
            "(--tasks MODULE or DQUEUE_TASKS)"
        )
    if not plan.slots:
        _logger.warning(
            "the pool has %d worker(s) and none falls to this runner (%s)",
            sum(plan.counts.values()),
            plan.description,
        )
    return Runner(
        settings,
        plan.slots,
        worker_command=python_worker_command(_passthrough(args)),
        services=services,
        description=plan.description,
    ).run()


def worker(args: argparse.Namespace) -> int:
    """``dqueue worker QUEUE [SLOT]``: one worker in the foreground."""
    settings = worker_settings(args.settings, vars(args))
    ops.check_queue(settings, args.queue, store_may_be_down=True)
    backend = get_backend(args.queue, settings=settings)
    if not backend.supports_workers:
        raise ConfigurationError(
            f"{backend.name} cannot serve a worker process: set DQUEUE_BACKEND to "
            "dqueue.backends.sqlite.SQLiteBackend or a Redis backend"
        )
    from ..metrics import worker_metrics_served  # here: a worker without metrics stays small

    with worker_metrics_served(settings, args.queue, args.slot, args.metrics_port) as metrics:
        return Worker(
            settings, args.queue, args.slot, backend=backend, burst=args.burst, metrics=metrics
        ).run()


def configuration(args: argparse.Namespace) -> int:
    """``dqueue configuration``: what a runner with these options would run here."""
    from ..status import configuration_data, render_configuration

    plan, services = _plan(args)
    data = configuration_data(plan, args.settings, services=[service.name for service in services])
    data["tasks"] = REGISTRY.names()
    print(json.dumps(data, indent=2) if args.json else render_configuration(data))
    return 0


def demo(args: argparse.Namespace) -> int:
    """``dqueue demo``: see :mod:`dqueue.demo`."""
    from ..demo import run_demo

    configure_logging(args.log_level or "WARNING")  # the progress line is the demo's output
    return run_demo(
        jobs=args.jobs,
        workers=args.workers,
        max_delay_s=args.max_delay,
        path=args.path,
        # Workers log at ERROR unless asked: the demo's planned failures (retried, or dead by
        # design) are counted in its summary, not worth a warning and a traceback each.
        log_level=args.log_level or "ERROR",
    )
