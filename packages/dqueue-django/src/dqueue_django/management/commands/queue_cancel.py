"""``manage.py queue_cancel ID...``."""

from __future__ import annotations

from django.core.management.base import CommandParser

from dqueue.cli import jobs
from dqueue.cli.parser import add_cancel_arguments

from ..base import SharedCommand


class Command(SharedCommand):
    """Cancel jobs by id."""

    help = (
        "Cancel jobs by id, in any queue: a waiting or delayed job never runs; a running one "
        "finishes its run but is not retried. An id that is not waiting or running (unknown, "
        "dead, finished) is reported and the exit status is 1."
    )
    handler = jobs.cancel

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the job ids."""
        add_cancel_arguments(parser)
