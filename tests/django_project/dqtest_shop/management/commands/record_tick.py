"""A management command that cron runs: it writes a ``tick`` Record."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from dqtest_shop.models import Record


class Command(BaseCommand):
    help = "Write a 'tick' Record (the test project's cron command)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("label", nargs="?", default="")
        parser.add_argument("--suffix", default="")

    def handle(self, *args: Any, **options: Any) -> None:
        Record.objects.create(kind="tick", value=f"{options['label']}{options['suffix']}")
