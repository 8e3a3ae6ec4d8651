"""``manage.py queue_resume QUEUE``."""

from __future__ import annotations

from typing import Any

from dqueue import ops
from dqueue.settings import Settings

from ..base import QueueCommand


class Command(QueueCommand):
    """Resume a paused queue."""

    help = "Resume a paused queue: workers take its jobs again."

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Resume the queue."""
        queue: str = options["queue"]
        ops.resume(settings, queue)
        self.stdout.write(f"Resumed queue {queue}.")
