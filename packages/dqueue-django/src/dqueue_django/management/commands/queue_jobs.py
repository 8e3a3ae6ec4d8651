"""``manage.py queue_jobs QUEUE [--state S] [--limit N] [--cursor C] [--json]``."""

from __future__ import annotations

from django.core.management.base import CommandParser

from dqueue.cli import jobs
from dqueue.cli.parser import add_jobs_arguments

from ..base import SharedCommand


class Command(SharedCommand):
    """List the jobs of a queue in one state, in due order, a page at a time."""

    help = (
        "List the jobs of a queue in one state (--state ready, delayed, in-flight or dead; "
        "ready by default) in the order they are due, with their due time and attempts. A "
        "full page ends with the command that shows the next one (--cursor)."
    )
    handler = jobs.jobs

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the queue, ``--state``, ``--limit``, ``--cursor`` and ``--json``."""
        add_jobs_arguments(parser)
