"""``manage.py queue_pause QUEUE --for 1h30m`` / ``--until 2026-11-27T18:00:00+00:00``."""

from __future__ import annotations

from django.core.management.base import CommandParser

from dqueue.cli import control
from dqueue.cli.parser import add_pause_arguments

from ..base import SharedCommand


class Command(SharedCommand):
    """Pause a queue: workers take none of its jobs until the time given (or a resume)."""

    help = (
        "Pause a queue on every machine: workers take none of its jobs (new jobs can still be "
        "enqueued) for --for, until --until, or without either until queue_resume."
    )
    handler = control.pause

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add ``queue`` and at most one of ``--for`` / ``--until``."""
        add_pause_arguments(parser, until_help="ISO 8601 time; without an offset, in TIME_ZONE")
