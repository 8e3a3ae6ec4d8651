"""Commit a transaction that enqueues a job, then die (SIGKILL) before the job is sent.

The end-to-end test of the transactional outbox runs it: the kill is registered with
``on_commit`` before the enqueue, so it runs first, after the commit and before the outbox's
own relay of the row; only a runner's relay can then send the job.
"""

from __future__ import annotations

import os
import signal
from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction
from dqtest_shop.models import Record
from dqtest_shop.tasks import record


class Command(BaseCommand):
    help = "Commit a Record and an enqueue of record(KIND, VALUE), then SIGKILL this process."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("kind")
        parser.add_argument("value")

    def handle(self, *args: Any, **options: Any) -> None:
        with transaction.atomic():
            Record.objects.create(kind="committed", value=options["value"])
            transaction.on_commit(lambda: os.kill(os.getpid(), signal.SIGKILL))
            record(options["kind"], options["value"])
