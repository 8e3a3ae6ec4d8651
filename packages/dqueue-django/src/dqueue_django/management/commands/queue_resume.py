"""``manage.py queue_resume QUEUE``."""

from __future__ import annotations

from dqueue.cli import control

from ..base import SharedCommand


class Command(SharedCommand):
    """Resume a paused queue."""

    help = "Resume a paused queue: workers take its jobs again."
    handler = control.resume
