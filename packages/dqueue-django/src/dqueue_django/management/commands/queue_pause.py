"""``manage.py queue_pause QUEUE --for 1h2m3s`` / ``--until 2026-11-27T18:00:00+00:00``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.core.management.base import CommandError, CommandParser
from django.utils import timezone

from dqueue.clock import to_epoch
from dqueue.settings import Settings

from ...durations import TimeError, parse_duration, parse_until
from ..base import QueueCommand


class Command(QueueCommand):
    """Pause a queue: workers take none of its jobs until the time given (or a resume)."""

    help = (
        "Pause a queue on every machine until a time: workers take none of its jobs (new jobs "
        "can still be enqueued). Exactly one of --for or --until."
    )
    capability = ("supports_pause", "pause")

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add ``queue`` and exactly one of ``--for`` / ``--until``."""
        super().add_command_arguments(parser)
        when = parser.add_mutually_exclusive_group(required=True)
        when.add_argument("--for", dest="duration", metavar="DURATION",
                          help="how long: 1h2m3s, 45m, 90s or plain seconds")  # fmt: skip
        when.add_argument("--until", dest="until", metavar="TIME",
                          help="ISO 8601 time; without an offset, in TIME_ZONE")  # fmt: skip

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Pause the queue."""
        queue: str = options["queue"]
        now = timezone.now()
        try:
            if options.get("duration"):
                until = now + parse_duration(options["duration"])
            else:
                until = parse_until(
                    options["until"], now=now, default_tz=timezone.get_current_timezone()
                )
        except TimeError as exc:
            raise CommandError(str(exc)) from exc
        self.backend_for(settings, queue).pause(queue, to_epoch(until))
        self.stdout.write(f"Paused queue {queue} until {_shown(until)}.")


def _shown(moment: datetime) -> str:
    return moment.astimezone(timezone.get_current_timezone()).isoformat(" ", "seconds")
