"""``manage.py queue_dead list|retry|purge QUEUE [JOB_ID ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from dqueue import ops
from dqueue.settings import Settings
from dqueue.status import render_dead_letters

from ..base import QueueCommand


class Command(QueueCommand):
    """Inspect the dead letters of a queue, put them back, or delete them."""

    help = (
        "Dead letters: jobs that failed for good. 'list' shows the newest with why they "
        "failed; 'retry' puts them (all, or the ids given) back on the queue with fresh "
        "attempts; 'purge' deletes them (all needs --yes)."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the action, the queue, job ids and the options."""
        parser.add_argument("action", choices=("list", "retry", "purge"))
        super().add_command_arguments(parser)
        parser.add_argument(
            "job_ids", nargs="*", metavar="JOB_ID", help="only these jobs (retry, purge)"
        )
        parser.add_argument("--limit", type=int, default=20, help="list at most this many (20)")
        parser.add_argument("--json", action="store_true", help="list as JSON")
        parser.add_argument(
            "--failure-tracebacks",
            dest="show_traceback",
            action="store_true",
            help="list with each failure's traceback",
        )
        parser.add_argument("--yes", action="store_true", help="purge all without asking")

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Do the action."""
        queue: str = options["queue"]
        ids: list[str] | None = options["job_ids"] or None
        if options["action"] == "list":
            self._list(settings, queue, options)
            return
        if options["action"] == "retry":
            change = ops.retry_dead(settings, queue, ids)
            done = f"Put {change.count} dead job(s) back on queue {queue}."
        else:
            if ids is None and not options["yes"]:
                raise CommandError(f"purging every dead letter of {queue!r} needs --yes")
            change = ops.purge_dead(settings, queue, ids)
            done = f"Deleted {change.count} dead job(s) of queue {queue}."
        if change.count or ids is None:
            self.stdout.write(done)
        change.check_all_found(see=f"queue_dead list {queue}")

    def _list(self, settings: Settings, queue: str, options: dict[str, Any]) -> None:
        if options["limit"] < 1:
            raise CommandError("--limit must be 1 or more")
        letters = ops.dead_letters(settings, queue, limit=options["limit"])
        if options["json"]:
            self.write_json([ops.dead_letter_data(letter) for letter in letters])
            return
        self.stdout.write(render_dead_letters(letters))
        if options["show_traceback"]:
            for letter in letters:
                if letter.failure.traceback:
                    self.stdout.write(f"\n{letter.job.id}:\n{letter.failure.traceback.rstrip()}")
