"""What every ``queue_*`` command shares: ``--config FILE`` and one-line errors.

The commands that the ``dqueue`` command has too (status, pause, resume, clear, deduplicate,
dead letters, and the single jobs' jobs, job, cancel, run-now) run its very functions
(:mod:`dqueue.cli.control`, :mod:`dqueue.cli.jobs`), so both print the same.
"""

from __future__ import annotations

import argparse
import logging
from functools import partial
from typing import Any, ClassVar, NoReturn

from django.core.management.base import BaseCommand, CommandError, CommandParser

from dqueue.cli.control import Handler
from dqueue.errors import DQueueError
from dqueue.logs import configure_logging
from dqueue.settings import Settings, get_settings

from ..conf import config_file
from ..queues import front

__all__ = ["DQueueCommand", "SharedCommand", "ensure_logging"]


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
                self.run(get_settings(), **options)
        except DQueueError as exc:
            raise CommandError(str(exc)) from exc

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Do the command's work."""
        raise NotImplementedError


class SharedCommand(DQueueCommand):
    """A command of the ``dqueue`` command line: its handler, with Django's queues and time zone.

    Its argument is one queue (``queue_resume QUEUE``); subclasses with other arguments add
    them under the names the handler reads (``dqueue``'s).
    """

    handler: ClassVar[Handler]

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the ``queue`` argument."""
        parser.add_argument("queue", help="the queue's name")

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Run the shared handler, writing here (progress on stderr when it is a terminal)."""
        stdout, stderr = self.stdout, self.stderr
        progress = partial(stderr.write, style_func=str, ending="") if stderr.isatty() else None
        shared = front(
            settings, stdout.write, terminal=stdout.isatty(), flush=stdout.flush, progress=progress
        )
        type(self).handler(argparse.Namespace(**options), shared)


def ensure_logging(settings: Settings) -> None:
    """Show dqueue's log (its level and format settings) unless Django's LOGGING routes it."""
    logger = logging.getLogger("dqueue")
    if not logger.handlers and not logging.getLogger().handlers:
        configure_logging(settings.LOG_LEVEL, settings.LOG_FORMAT)
