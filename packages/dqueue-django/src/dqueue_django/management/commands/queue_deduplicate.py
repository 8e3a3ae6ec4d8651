"""``manage.py queue_deduplicate QUEUE``."""

from __future__ import annotations

from dqueue.cli import control

from ..base import SharedCommand


class Command(SharedCommand):
    """Remove waiting jobs identical (task, arguments) to an older waiting job."""

    help = (
        "Remove waiting jobs of a queue that are identical (same task and arguments) to an "
        "older waiting job; the oldest of each kind stays."
    )
    handler = control.deduplicate
