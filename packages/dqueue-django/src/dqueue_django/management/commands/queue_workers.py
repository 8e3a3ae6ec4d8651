"""``manage.py queue_workers [QUEUE ...] [--json]``."""

from __future__ import annotations

from django.core.management.base import CommandParser

from dqueue.cli import control
from dqueue.cli.parser import add_workers_options

from ..base import SharedCommand


class Command(SharedCommand):
    """List the live workers: where they run, their current job, jobs done and failed."""

    help = (
        "List the workers alive now (they beat into the store every DQUEUE_HEARTBEAT_SECONDS): "
        "name, queue, host, pid, how long up, the job running and for how long, jobs done and "
        "failed, and the last beat. Every queue unless some are named."
    )
    handler = control.workers

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the queues and ``--json``."""
        add_workers_options(parser)
