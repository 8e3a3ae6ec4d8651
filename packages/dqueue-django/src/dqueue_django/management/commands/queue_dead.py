"""``manage.py queue_dead list|retry|purge QUEUE [JOB_ID ...]``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from dqueue.backends.base import DeadLetter
from dqueue.settings import Settings
from dqueue.status import dead_letters_data, render_dead_letters

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
        parser.add_argument("job_ids", nargs="*", metavar="JOB_ID",
                            help="only these jobs (retry, purge)")  # fmt: skip
        parser.add_argument("--limit", type=int, default=20,
                            help="list at most this many (20)")  # fmt: skip
        parser.add_argument("--json", action="store_true", help="list as JSON")
        parser.add_argument("--failure-tracebacks", dest="show_traceback", action="store_true",
                            help="list with each failure's traceback")  # fmt: skip
        parser.add_argument("--yes", action="store_true", help="purge all without asking")

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Do the action."""
        queue: str = options["queue"]
        backend = self.backend_for(settings, queue)
        ids: list[str] = list(dict.fromkeys(options["job_ids"]))
        action = options["action"]
        if action == "list":
            if options["limit"] < 1:
                raise CommandError("--limit must be 1 or more")
            self._list(backend.dead_letters(queue, limit=options["limit"]), **options)
        elif action == "retry":
            count = backend.retry_dead(queue, ids or None)
            if count or not ids:
                self.stdout.write(f"Put {count} dead job(s) back on queue {queue}.")
            _check_all_found(queue, ids, count, "put back")
        else:
            if not ids and not options["yes"]:
                raise CommandError(f"purging every dead letter of {queue!r} needs --yes")
            count = backend.purge_dead(queue, ids or None)
            if count or not ids:
                self.stdout.write(f"Deleted {count} dead job(s) of queue {queue}.")
            _check_all_found(queue, ids, count, "deleted")

    def _list(self, letters: list[DeadLetter], **options: Any) -> None:
        rows = dead_letters_data(letters)
        if options["json"]:
            self.write_json(rows)
            return
        self.stdout.write(render_dead_letters(rows))
        if options["show_traceback"]:
            for letter in letters:
                if letter.failure.traceback:
                    self.stdout.write(f"\n{letter.job.id}:\n{letter.failure.traceback.rstrip()}")


def _check_all_found(queue: str, ids: list[str], count: int, done: str) -> None:
    """A job id that is not a dead letter is a mistake (a typo, another queue): say so."""
    if not ids or count >= len(ids):
        return
    if count == 0:
        raise CommandError(
            f"no dead letter of queue {queue!r} has the id(s) {', '.join(ids)} "
            f"(see 'queue_dead list {queue}')"
        )
    raise CommandError(
        f"{len(ids) - count} of the {len(ids)} job id(s) are not dead letters of queue "
        f"{queue!r}; the other {count} were {done}"
    )
