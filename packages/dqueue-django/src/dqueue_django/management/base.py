"""What every ``queue_*`` command shares: ``--config FILE`` and one-line errors."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dqueue.backends import Backend, get_backend
from dqueue.cli.parser import positive_int
from dqueue.errors import BackendUnavailable, DQueueError, UnsupportedOperation
from dqueue.logs import configure_logging
from dqueue.registry import REGISTRY
from dqueue.settings import Settings, get_settings

from ..conf import config_file
from ..planning import DjangoPlan, plan
from ..queues import pool_counts

__all__ = [
    "DQueueCommand",
    "QueueCommand",
    "add_plan_arguments",
    "backends_of",
    "check_queue",
    "listed_queues",
    "plan_from_options",
]


_logger = logging.getLogger("dqueue.django")


class _OneLineErrors(CommandParser):
    """Django's parser, but a command line mistake is one line, not a usage block."""

    def error(self, message: str) -> NoReturn:
        if self.called_from_command_line:
            self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise CommandError(f"Error: {message}")


class DQueueCommand(BaseCommand):
    """A command that reads dqueue's settings, optionally layered with ``--config FILE``.

    Subclasses implement :meth:`run`. Every dqueue error becomes a ``CommandError``: one line
    on stderr and exit status 1, never a traceback.
    """

    # Settings problems are reported by handle() as one line naming the setting; the full
    # system check runs with `manage.py check`.
    requires_system_checks: list[str] = []
    #: A command that serves jobs (``queue_worker``) waits out a store outage instead of failing.
    serves_jobs = False

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        """Django's parser, printing a parse error as one line."""
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # BaseCommand builds a CommandParser itself; only its error() differs, no state.
        parser.__class__ = _OneLineErrors
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        """Add ``--config`` (alias ``--extra-settings``), then the command's own arguments."""
        parser.add_argument(
            "--config",
            "--extra-settings",
            dest="config",
            metavar="FILE",
            help="a python file of DQUEUE_* settings that override Django's settings "
            "(settings it does not set are inherited)",
        )
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the command's own arguments."""

    def handle(self, *args: Any, **options: Any) -> None:
        """Apply ``--config``, then :meth:`run` with the effective settings."""
        try:
            with config_file(options.get("config")) as warnings:
                for warning in warnings:
                    self.stderr.write(f"warning: {warning}")
                settings = get_settings()
                if options.get("queue") is not None:
                    # A worker waits out a store outage (it must not exit for one).
                    check_queue(settings, options["queue"], store_may_be_down=self.serves_jobs)
                self.run(settings, **options)
        except DQueueError as exc:
            raise CommandError(str(exc)) from exc

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Do the command's work."""
        raise NotImplementedError

    def write_json(self, data: Any) -> None:
        """Print ``data`` as indented JSON."""
        self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))


class QueueCommand(DQueueCommand):
    """A command about one queue: ``queue_pause QUEUE ...``."""

    #: The verb for "doesn't support ..." errors, and the capability flag it needs.
    capability: tuple[str, str] | None = None

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the ``queue`` argument."""
        parser.add_argument("queue", help="the queue's name")

    def backend_for(self, settings: Settings, queue: str) -> Backend:
        """The backend serving ``queue``, checked for the capability the command needs."""
        backend = get_backend(queue, settings=settings)
        if self.capability is not None:
            flag, verb = self.capability
            if not getattr(backend, flag):
                raise CommandError(f"the backend of queue {queue!r} ({backend.name}) cannot {verb}")
        return backend


def add_plan_arguments(parser: CommandParser) -> None:
    """``--machine N --of M``, ``--exact-configuration``, ``--only-queue Q``."""
    parser.add_argument(
        "--machine",
        type=positive_int,
        metavar="N",
        help="this machine's number in the pool, 1 to M (1)",
    )
    parser.add_argument(
        "--of",
        dest="machines",
        type=positive_int,
        metavar="M",
        help="how many machines share the pool (1)",
    )
    parser.add_argument(
        "--exact-configuration",
        dest="exact",
        action="store_true",
        help="run the --config file's DQUEUE_WORKERS exactly, here, and no cron",
    )
    parser.add_argument(
        "--only-queue", metavar="QUEUE", help="run only this queue's share of the pool"
    )


def plan_from_options(settings: Settings, options: dict[str, Any]) -> DjangoPlan:
    """The plan that the plan arguments ask for.

    Raises:
        CommandError: ``--exact-configuration`` without ``--config``.
        ConfigurationError: the rest (see :func:`dqueue_django.planning.plan`).
    """
    if options.get("exact") and not options.get("config"):
        raise CommandError("--exact-configuration needs --config FILE: the workers to run here")
    return plan(
        settings,
        machine=options.get("machine"),
        machines=options.get("machines"),
        exact=bool(options.get("exact")),
        only_queue=options.get("only_queue"),
    )


def listed_queues(settings: Settings) -> list[str]:
    """The queues ``queue_status`` lists: the pool's, and those the stores hold."""
    known = set(pool_counts(settings))
    paths = {settings.backend_path(queue): queue for queue in known | {"default"}}
    for queue in paths.values():
        try:
            stored = get_backend(queue, settings=settings).queues()
        except UnsupportedOperation:
            continue
        known.update(q for q in stored if settings.backend_path(q) == settings.backend_path(queue))
    return sorted(known)


def check_queue(settings: Settings, queue: str, *, store_may_be_down: bool = False) -> None:
    """Refuse a queue name nothing knows (a typo would otherwise act on an empty queue).

    The stores are asked only about a name the settings don't know; with
    ``store_may_be_down``, a store that can't be reached lets the name through with a warning.

    Raises:
        CommandError: the queue is unknown; the message lists the known ones.
    """
    configured = {
        "default",
        *settings.BACKEND_OVERRIDES,
        *REGISTRY.queues(),
        *pool_counts(settings),
    }
    if queue in configured:
        return
    try:
        known = configured | set(listed_queues(settings))
    except BackendUnavailable as exc:
        if not store_may_be_down:
            raise
        _logger.warning("could not check queue %r against the store (%s); serving it", queue, exc)
        return
    if queue not in known:
        raise CommandError(f"unknown queue {queue!r} (known: {', '.join(sorted(known))})")


def backends_of(settings: Settings, queues: Iterable[str]) -> dict[str, str]:
    """The backend path of each queue."""
    return {queue: settings.backend_path(queue) for queue in queues}


def ensure_logging(settings: Settings) -> None:
    """Show dqueue's log (at ``DQUEUE_LOG_LEVEL``) unless Django's LOGGING sends it somewhere."""
    logger = logging.getLogger("dqueue")
    if not logger.handlers and not logging.getLogger().handlers:
        configure_logging(settings.LOG_LEVEL)
