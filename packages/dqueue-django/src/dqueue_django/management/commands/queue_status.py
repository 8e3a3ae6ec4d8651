"""``manage.py queue_status [QUEUE ...] [--json]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from dqueue import ops
from dqueue.settings import Settings
from dqueue.status import render_status

from ...conf import DjangoSettings
from ...outbox import Backlog, backlog, backlog_by_queue
from ...queues import check_queue, list_queues
from ..base import DQueueCommand


class Command(DQueueCommand):
    """Show each queue's jobs by state, its pause and how late recent jobs started."""

    help = (
        "Show each queue's jobs (ready, delayed, in flight, dead), its pause, and how late "
        "recent jobs started (p50, p99). All known queues unless some are named. With "
        "DQUEUE_OUTBOX on, also the jobs waiting in the outbox to be relayed."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the queues and ``--json``."""
        parser.add_argument("queues", nargs="*", metavar="QUEUE", help="queues to show (all)")
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Print the status."""
        for queue in options["queues"]:
            check_queue(settings, queue)
        rows = ops.queue_status(settings, options["queues"] or list_queues(settings).queues)
        outbox = settings.section(DjangoSettings)
        if options["json"]:
            data = [row.to_dict() for row in rows]
            if outbox.OUTBOX:
                add_outbox_backlog(data, outbox.OUTBOX_DATABASE)
            self.write_json(data)
        else:
            self.stdout.write(render_status(rows))
            if outbox.OUTBOX:
                self.stdout.write(render_outbox_backlog(outbox.OUTBOX_DATABASE))


def add_outbox_backlog(rows: list[dict[str, Any]], alias: str) -> None:
    """Add each queue's outbox backlog to its status row (``outbox_waiting``, oldest age)."""
    by_queue = backlog_by_queue(alias)
    for row in rows:
        found = by_queue.get(row["queue"], Backlog(0, None))
        row["outbox_waiting"] = found.waiting
        row["outbox_oldest_age_s"] = (
            None if found.oldest_age_s is None else round(found.oldest_age_s, 3)
        )


def render_outbox_backlog(alias: str) -> str:
    """One line: how many jobs wait in the outbox to be relayed, and for how long."""
    found = backlog(alias)
    if not found.waiting or found.oldest_age_s is None:
        return "outbox: empty"
    return (
        f"outbox: {found.waiting} job(s) waiting to be relayed, "
        f"the oldest for {found.oldest_age_s:.1f} s"
    )
