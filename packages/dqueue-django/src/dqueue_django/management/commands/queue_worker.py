"""``manage.py queue_worker QUEUE [N]``: one worker, in the foreground."""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import CommandParser

from dqueue.cli.parser import add_worker_arguments, worker_settings
from dqueue.metrics import worker_metrics_served
from dqueue.settings import Settings
from dqueue.worker import Worker

from ...queues import front
from ...transactions import set_worker_process
from ..base import DQueueCommand, ensure_logging


class Command(DQueueCommand):
    """Run one worker of a queue until stopped (``queue_runner`` starts these)."""

    help = (
        "Run one worker of a queue in the foreground until SIGTERM or SIGINT. queue_runner "
        "starts one of these per worker; run it by hand to debug a queue."
    )

    def add_command_arguments(self, parser: CommandParser) -> None:
        """Add ``dqueue worker``'s arguments and ``--touch-file``."""
        add_worker_arguments(parser, metrics_port=("--prometheus-port", "--metrics-port"))
        parser.add_argument(
            "--touch-file",
            "--touchfile",
            dest="touch_file",
            metavar="PATTERN",
            help="touch this file after every successful job; %%s is the queue name "
            "(DQUEUE_TOUCH_FILE)",
        )

    def run(self, settings: Settings, /, **options: Any) -> None:
        """Run the worker; exit with its status."""
        queue, number, port = options["queue"], options["slot"], options["metrics_port"]
        # A worker waits out a store outage (it must not exit for one).
        front(settings).check_queue(queue, store_may_be_down=True)
        settings = worker_settings(settings, options)
        if options.get("touch_file"):
            settings = settings.replace(TOUCH_FILE=options["touch_file"])
        ensure_logging(settings)
        set_worker_process(True)
        try:
            with worker_metrics_served(settings, queue, number, port) as metrics:
                worker = Worker(settings, queue, number, burst=options["burst"], metrics=metrics)
                code = worker.run()
        finally:
            set_worker_process(False)
        if code:
            sys.exit(code)
