"""Entries listed by dotted path from DQUEUE_CRON."""

from __future__ import annotations

from dqueue_cron import CronEntry

ENTRIES = [
    {"task": "cronapp.tasks.cleanup", "schedule": "@hourly"},
    CronEntry(name="weekly-report", schedule="@weekly", task="cronapp.tasks.report", args=["w"]),
]

ONE = {"task": "cronapp.tasks.report", "name": "single", "minutes": "0"}

NOT_A_LIST = 42
