"""``manage.py queue_deduplicate QUEUE``."""

from __future__ import annotations

from typing import Any

from dqueue.settings import Settings

from ..base import QueueCommand


class Command(QueueCommand):
    """Remove waiting jobs identical (task, arguments) to an older waiting job."""

    help = (
        "Remove waiting jobs of a queue that are identical (same task and arguments) to an "
        "older waiting job; the oldest of each kind stays."
    )
    capability = ("supports_dedup", "deduplicate")

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Deduplicate the queue."""
        queue: str = options["queue"]
        before, after = self.backend_for(settings, queue).deduplicate(queue)
        if before == after:
            self.stdout.write(f"No duplicate jobs detected (queue length remains {before})")
        else:
            self.stdout.write(
                f"Deduplication reduced the queue from {before} jobs to {after} job(s)"
            )
