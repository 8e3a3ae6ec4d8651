"""``manage.py queue_run_now ID... [--in DURATION | --at TIME]``."""

from __future__ import annotations

from django.core.management.base import CommandParser

from dqueue.cli import jobs
from dqueue.cli.parser import add_run_now_arguments

from ..base import SharedCommand


class Command(SharedCommand):
    """Make waiting jobs due now, or at another time."""

    help = (
        "Make waiting or delayed jobs due now, or after --in (1h30m, 2d) or at --at (ISO 8601, "
        "in TIME_ZONE without an offset). A job that is running or dead is reported and the "
        "exit status is 1 (retry a dead letter with queue_dead retry)."
    )
    handler = jobs.run_now

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the job ids and at most one of ``--in`` / ``--at``."""
        add_run_now_arguments(parser, at_help="ISO 8601; without an offset, in TIME_ZONE")
