"""``manage.py queue_clear QUEUE [--yes]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from dqueue import ops
from dqueue.settings import Settings

from ..base import QueueCommand


class Command(QueueCommand):
    """Delete every waiting job (ready and delayed) of a queue."""

    help = (
        "Delete every waiting job (ready and delayed) of a queue. Jobs running now and dead "
        "letters are left alone. Asks first unless --yes."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add ``queue`` and ``--yes``."""
        super().add_command_arguments(parser)
        parser.add_argument("--yes", action="store_true", help="don't ask for confirmation")

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Clear the queue, after confirmation."""
        queue: str = options["queue"]
        if not options["yes"]:
            try:
                answer = input(f"Clear all jobs from queue {queue}? [y/N] ")
            except EOFError:
                answer = ""
            if answer.strip().lower() not in ("y", "yes"):
                raise CommandError("Aborting: nothing was cleared")
        cleared = ops.clear(settings, queue)
        self.stdout.write(f"Cleared {cleared} job(s) from queue {queue}.")
