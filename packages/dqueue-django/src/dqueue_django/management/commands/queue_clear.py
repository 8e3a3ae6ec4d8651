"""``manage.py queue_clear QUEUE [--yes]``."""

from __future__ import annotations

from django.core.management.base import CommandParser

from dqueue.cli import control

from ..base import SharedCommand


class Command(SharedCommand):
    """Delete every waiting job (ready and delayed) of a queue."""

    help = (
        "Delete every waiting job (ready and delayed) of a queue. Jobs running now and dead "
        "letters are left alone. Asks first (on a terminal) unless --yes."
    )
    handler = control.clear

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add ``queue`` and ``--yes``."""
        super().add_command_arguments(parser)
        parser.add_argument("--yes", action="store_true", help="don't ask for confirmation")
