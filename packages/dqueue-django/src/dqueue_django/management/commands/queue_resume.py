"""``manage.py queue_resume QUEUE``."""

from __future__ import annotations

from dqueue.cli import control

from ..base import QueueCommand


class Command(QueueCommand):
    """Resume a paused queue."""

    help = "Resume a paused queue: workers take its jobs again."
    handler = control.resume
