"""``manage.py queue_dead list|retry|purge QUEUE [JOB_ID ...]``."""

from __future__ import annotations

import argparse

from django.core.management.base import CommandParser

from dqueue.cli import control
from dqueue.cli.control import Front
from dqueue.cli.parser import add_dead_list_options
from dqueue.errors import UsageError

from ..base import SharedCommand


def _dead(args: argparse.Namespace, front: Front) -> int:
    if args.dead_command == "list" and args.ids:  # `dqueue dead list` takes none either
        raise UsageError("queue_dead list takes a queue and no job ids (retry and purge take ids)")
    # Without ids, retry and purge act on every dead letter (dqueue spells it --all).
    args.all = not args.ids
    return control.dead(args, front)


class Command(SharedCommand):
    """Inspect the dead letters of a queue, put them back, or delete them."""

    help = (
        "Dead letters: jobs that failed for good. 'list' shows the newest with why they "
        "failed; 'retry' puts them (all, or the ids given) back on the queue with fresh "
        "attempts; 'purge' deletes them (all asks first, on a terminal, unless --yes)."
    )
    handler = _dead

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the action, the queue, job ids and the options."""
        parser.add_argument("dead_command", metavar="action", choices=("list", "retry", "purge"))
        parser.add_argument("queue", help="the queue's name")
        parser.add_argument(
            "ids", nargs="*", metavar="JOB_ID", help="retry and purge: only these jobs (none: all)"
        )
        add_dead_list_options(parser)
        parser.add_argument("--yes", action="store_true", help="purge all without asking")
