"""``manage.py queue_job ID [--json]``."""

from __future__ import annotations

from django.core.management.base import CommandParser

from dqueue.cli import jobs
from dqueue.cli.parser import add_job_arguments

from ..base import SharedCommand


class Command(SharedCommand):
    """Show one job, found by its id in any queue."""

    help = (
        "Show one job, found by its id in any queue: its task, arguments, state, due time, "
        "attempts, each failure, the worker holding it and its result (when one is kept)."
    )
    handler = jobs.job

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the job id and ``--json``."""
        add_job_arguments(parser)
