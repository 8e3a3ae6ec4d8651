"""``manage.py queue_configuration``: what a runner with these options would run here."""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import CommandParser

from dqueue.cli.parser import add_plan_options, plan_options
from dqueue.settings import Settings
from dqueue.status import configuration_data, render_configuration
from dqueue_cron.integration import describe_entries

from ...discovery import cron_entries
from ...queues import plan
from ..base import DQueueCommand


class Command(DQueueCommand):
    """Show the queues, their backends and workers (pool and here), middleware and cron."""

    help = (
        "Show what queue_runner would run with the same options: every queue with its backend "
        "and its workers in the pool and on this machine, the middleware, and the cron entries "
        "with their next run."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the pool options and ``--json``."""
        add_plan_options(parser)
        parser.add_argument("--json", action="store_true", help="print JSON")

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Print the configuration."""
        planned = plan(settings, plan_options(options))
        runner = planned.runner
        data = configuration_data(runner, settings, services=["cron"] if planned.entries else [])
        scheduled = {entry.name for entry in planned.entries}
        entries = cron_entries(settings)
        data["cron"] = describe_entries(settings, time.time(), entries=entries)
        for row, entry in zip(data["cron"], entries, strict=True):
            row["args"] = list(entry.args)
            row["kwargs"] = dict(entry.kwargs)
            row["scheduled_here"] = entry.name in scheduled
        if options["json"]:
            self.stdout.write(json.dumps(data, indent=2))
            return
        self.stdout.write(render_configuration(data))
        self.stdout.write("")
        self.stdout.write("Cron entries:")
        if not data["cron"]:
            self.stdout.write(" (none)")
        for row in data["cron"]:
            target = _target(row)
            if not row["enabled"]:
                when = "disabled"
            elif row["scheduled_here"]:
                when = f"next {row['next_run']}"
            else:
                when = f"not scheduled by this runner (next {row['next_run']})"
            guard = ", no overlap" if row["prevent_overlap"] else ""
            self.stdout.write(
                f" * {row['name']}: {target} [{row['schedule']}] on queue {row['queue']} "
                f"({row['timezone']}, catch-up {row['catch_up']}{guard}), {when}"
            )


def _target(row: dict[str, Any]) -> str:
    if row["task"] == "dqueue_django.tasks.run_command" and row["args"]:
        command, *args = row["args"]
        parts = [f"manage.py {command}", *map(str, args)]
        parts += [f"--{key.replace('_', '-')}={value}" for key, value in row["kwargs"].items()]
        return " ".join(parts)
    return str(row["task"])
