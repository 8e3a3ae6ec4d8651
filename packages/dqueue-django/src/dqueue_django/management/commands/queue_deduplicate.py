"""``manage.py queue_deduplicate QUEUE``."""

from __future__ import annotations

from typing import Any

from dqueue import ops
from dqueue.settings import Settings

from ..base import QueueCommand


class Command(QueueCommand):
    """Remove waiting jobs identical (task, arguments) to an older waiting job."""

    help = (
        "Remove waiting jobs of a queue that are identical (same task and arguments) to an "
        "older waiting job; the oldest of each kind stays."
    )

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Deduplicate the queue."""
        queue: str = options["queue"]
        done = ops.deduplicate(settings, queue)
        if done.before == done.after:
            self.stdout.write(f"No duplicate jobs detected (queue length remains {done.before})")
        else:
            self.stdout.write(
                f"Deduplication reduced the queue from {done.before} jobs to {done.after} job(s)"
            )
