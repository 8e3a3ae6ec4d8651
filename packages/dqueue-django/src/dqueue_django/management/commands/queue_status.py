"""``manage.py queue_status [QUEUE ...] [--json]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from dqueue.backends import get_backend
from dqueue.settings import Settings
from dqueue.status import render_status, status_data

from ..base import DQueueCommand, backends_of, check_queue, listed_queues


class Command(DQueueCommand):
    """Show each queue's jobs by state, its pause and how late recent jobs started."""

    help = (
        "Show each queue's jobs (ready, delayed, in flight, dead), its pause, and how late "
        "recent jobs started (p50, p99). All known queues unless some are named."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the queues and ``--json``."""
        parser.add_argument("queues", nargs="*", metavar="QUEUE", help="queues to show (all)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Print the status."""
        for queue in options["queues"]:
            check_queue(settings, queue)
        queues: list[str] = options["queues"] or listed_queues(settings)
        counts = [get_backend(queue, settings=settings).counts(queue) for queue in queues]
        data = status_data(counts, backends_of(settings, queues))
        if options["json"]:
            self.write_json(data)
        else:
            self.stdout.write(render_status(data))
