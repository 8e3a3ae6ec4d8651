"""``manage.py queue_runner``: this machine's share of the worker pool, and cron."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandParser

from dqueue.cli.parser import add_plan_options, plan_options
from dqueue.runner import Runner
from dqueue.settings import Settings
from dqueue_cron.integration import services_for

from ...conf import DjangoSettings
from ...outbox import OutboxRelay
from ...queues import plan, worker_command
from ..base import DQueueCommand, ensure_logging


class Command(DQueueCommand):
    """Run the workers of this machine (one process each), restart them, and run cron."""

    help = (
        "Run this machine's share of the worker pool: one worker process per slot, restarted "
        "when it exits, stopped gracefully on SIGTERM or SIGINT. Pooled runners (--machine N "
        "--of M) also schedule the cron.py entries; --exact-configuration runs the --config "
        "file's DQUEUE_WORKERS exactly, here, without cron. With DQUEUE_OUTBOX on, every "
        "runner also relays the outbox rows that their own process did not send."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add the pool options and ``--touchfile``."""
        add_plan_options(parser)
        parser.add_argument(
            "--touchfile",
            "--touch-file",
            dest="touch_file",
            metavar="PATTERN",
            help="each worker touches this file after every successful job; "
            "%%s is the queue name (DQUEUE_TOUCH_FILE)",
        )

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Plan, then run until stopped."""
        ensure_logging(settings)
        planned = plan(settings, plan_options(options))
        services = services_for(settings, planned.runner.exact, entries=planned.entries)
        if settings.section(DjangoSettings).OUTBOX:
            services.append(OutboxRelay(settings.section(DjangoSettings).OUTBOX_DATABASE))
        runner = Runner(
            settings,
            planned.runner.slots,
            worker_command=worker_command(
                config=options.get("config"), touch_file=options.get("touch_file")
            ),
            services=services,
            description=planned.runner.description,
            metrics_port_option="--prometheus-port",  # django-lightweight-queue's name
        )
        code = runner.run()
        if code:
            sys.exit(code)
