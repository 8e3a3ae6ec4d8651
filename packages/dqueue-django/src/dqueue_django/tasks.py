"""dqueue-django's own task: running a management command (the target of ``cron.py`` entries).

Its default queue implies no worker: the cron entry chooses the queue.
"""

from __future__ import annotations

from typing import Any

from dqueue import task

__all__ = ["run_command"]


@task
def run_command(command: str, *args: Any, **kwargs: Any) -> None:
    """Run the management command ``command`` with ``call_command(command, *args, **kwargs)``.

    It runs inside ``transaction.atomic()`` when ``DQUEUE_ATOMIC_JOBS`` is on (the default),
    as django-lightweight-queue's cron commands did.
    """
    from django.core.management import call_command

    call_command(command, *args, **kwargs)
