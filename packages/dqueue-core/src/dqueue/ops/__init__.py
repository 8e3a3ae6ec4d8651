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
    sqlite_file,
    store_warnings,
)
from .jobs import (
    JobDetail,
    JobsChanged,
    cancel_jobs,
    find_job,
    list_jobs,
    parse_state,
    reschedule_jobs,
)
from .plans import PlanOptions, plan
from .queues import QueueListing, check_queue, configured_queues, list_queues

__all__ = [
    "Deduplicated",
    "JobDetail",
    "JobsChanged",
    "PlanOptions",
    "QueueListing",
    "cancel_jobs",
    "check_queue",
    "clear",
    "configured_queues",
    "dead_letter_data",
    "dead_letters",
    "deduplicate",
    "failure_summary",
    "find_job",
    "list_jobs",
    "list_queues",
    "parse_duration",
    "parse_state",
    "parse_until",
    "pause",
    "plan",
    "purge_dead",
    "queue_status",
    "reschedule_jobs",
    "resume",
    "retry_dead",
    "sqlite_file",
    "store_warnings",
]
