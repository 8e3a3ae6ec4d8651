"""``manage.py queue_status [QUEUE ...] [--json]``."""

from __future__ import annotations

import argparse
from functools import partial
from typing import Any

from django.core.management.base import CommandParser

from dqueue.cli import control
from dqueue.cli.control import Front
from dqueue.cli.parser import add_status_arguments

from ...conf import DjangoSettings
from ...outbox import Backlog, backlog_by_queue
from ..base import SharedCommand


def _status(args: argparse.Namespace, front: Front) -> int:
    outbox = front.settings.section(DjangoSettings)
    notes = partial(outbox_notes, outbox.OUTBOX_DATABASE) if outbox.OUTBOX else None
    return control.status(args, front, notes=notes)


class Command(SharedCommand):
    """Show each queue's jobs by state, its pause and how late recent jobs started."""

    help = (
        "Show each queue's jobs (ready, delayed, in flight, dead), its pause, and how late "
        "recent jobs started (p50, p99). All known queues unless some are named. With "
        "DQUEUE_OUTBOX on, also the jobs waiting in the outbox to be relayed. --watch shows "
        "it again every --interval (2 s) until Ctrl-C."
    )
    handler = _status

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the queues, ``--json``, ``--watch`` and ``--interval``."""
        add_status_arguments(parser)


def outbox_notes(alias: str, rows: list[dict[str, Any]]) -> list[str]:
    """Add each queue's outbox backlog to its status row; return the one line of the whole."""
    by_queue = backlog_by_queue(alias)
    for row in rows:
        found = by_queue.get(row["queue"], Backlog(0, None))
        row["outbox_waiting"] = found.waiting
        row["outbox_oldest_age_s"] = (
            None if found.oldest_age_s is None else round(found.oldest_age_s, 3)
        )
    waiting = sum(found.waiting for found in by_queue.values())
    oldest = max((found.oldest_age_s or 0.0 for found in by_queue.values()), default=0.0)
    if not waiting:
        return ["outbox: empty"]
    return [f"outbox: {waiting} job(s) waiting to be relayed, the oldest for {oldest:.1f} s"]
