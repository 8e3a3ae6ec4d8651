"""What every ``queue_*`` command shares: ``--config FILE`` and one-line errors."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dqueue.backends import Backend, get_backend
from dqueue.errors import DQueueError
from dqueue.settings import Settings, get_settings

from ..conf import config_file

__all__ = ["DQueueCommand", "QueueCommand"]


class DQueueCommand(BaseCommand):
    """A command that reads dqueue's settings, optionally layered with ``--config FILE``.

    Subclasses implement :meth:`run`. Every dqueue error becomes a ``CommandError``: one line
    on stderr and exit status 1, never a traceback.
    """

    # Settings problems are reported by handle() as one line naming the setting; the full
    # system check runs with `manage.py check`.
    requires_system_checks: list[str] = []

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
                self.run(get_settings(), **options)
        except DQueueError as exc:
            raise CommandError(str(exc)) from exc

    def run(self, settings: Settings, **options: Any) -> None:
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
