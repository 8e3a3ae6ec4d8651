"""``manage.py queue_pause QUEUE --for 1h30m`` / ``--until 2026-11-27T18:00:00+00:00``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from dqueue import ops
from dqueue.settings import Settings

from ..base import QueueCommand


class Command(QueueCommand):
    """Pause a queue: workers take none of its jobs until the time given (or a resume)."""

    help = (
        "Pause a queue on every machine until a time: workers take none of its jobs (new jobs "
        "can still be enqueued). Exactly one of --for or --until."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add ``queue`` and exactly one of ``--for`` / ``--until``."""
        super().add_command_arguments(parser)
        when = parser.add_mutually_exclusive_group(required=True)
        when.add_argument(
            "--for",
            dest="duration",
            metavar="DURATION",
            help="how long: 1h30m, 1.5h, 45m, 90s, 2d or plain seconds",
        )
        when.add_argument(
            "--until",
            dest="until",
            metavar="TIME",
            help="ISO 8601 time; without an offset, in TIME_ZONE",
        )

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Pause the queue."""
        zone = timezone.get_current_timezone()
        paused = ops.pause(
            settings,
            options["queue"],
            duration=options.get("duration"),
            until=options.get("until"),
            default_tz=zone,
        )
        shown = paused.until.astimezone(zone).isoformat(" ", "seconds")
        self.stdout.write(f"Paused queue {paused.queue} until {shown}.")
