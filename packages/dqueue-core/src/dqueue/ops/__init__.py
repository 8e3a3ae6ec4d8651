"""Operations on queues, for every front end: ``dqueue``, ``manage.py queue_*``, the admin.

Each operation decides (which queues exist, whether options fit, what a duration means, what a
queue holds) and returns frozen dataclasses; the front ends only render them.
"""

from __future__ import annotations

from .actions import Deduplicated, clear, deduplicate, pause, purge_dead, resume, retry_dead
from .durations import parse_duration, parse_until
from .inspection import (
    dead_letter_data,
    dead_letters,
    failure_summary,
    queue_status,
    store_warnings,
)
from .plans import PlanOptions, plan
from .queues import QueueListing, check_queue, configured_queues, list_queues
from .workers import WorkerListing, live_workers, worker_data

__all__ = [
    "Deduplicated",
    "PlanOptions",
    "QueueListing",
    "WorkerListing",
    "check_queue",
    "clear",
    "configured_queues",
    "dead_letter_data",
    "dead_letters",
    "deduplicate",
    "failure_summary",
    "list_queues",
    "live_workers",
    "parse_duration",
    "parse_until",
    "pause",
    "plan",
    "purge_dead",
    "queue_status",
    "resume",
    "retry_dead",
    "store_warnings",
    "worker_data",
]
