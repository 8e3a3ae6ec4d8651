"""Transactions: enqueue on commit, and run atomic tasks inside ``transaction.atomic()``.

Hooks into the core, installed by the app's ``ready()``: a dispatcher
(:func:`dqueue.enqueueing.set_dispatcher`) holds a job enqueued inside a transaction until it
commits (or writes it to the outbox, :mod:`dqueue_django.outbox`), and drops it on rollback;
call wrappers (:func:`dqueue.execution.add_call_wrapper`) run atomic tasks inside
``transaction.atomic()`` and give each job a worker's connection hygiene. The README's
"Transactions" section says how several databases and the outbox combine.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, Any

from dqueue.enqueueing import send
from dqueue.job import Job
from dqueue.settings import get_settings
from dqueue.task_options import TaskOption

from .conf import DjangoSettings, installed

if TYPE_CHECKING:
    from dqueue.task import Task

__all__ = [
    "ATOMIC",
    "ON_COMMIT",
    "after_commit",
    "atomic_call",
    "dispatch_on_commit",
    "is_atomic",
    "job_scope",
    "open_transactions",
]

_logger = logging.getLogger("dqueue.django")

#: ``@task(atomic=...)`` (entry point group ``dqueue.task_options``).
ATOMIC = TaskOption(bool, "run inside transaction.atomic() (default DQUEUE_ATOMIC_JOBS)")
#: ``@task(on_commit=...)`` and ``task.using(on_commit=...)``.
ON_COMMIT = TaskOption(
    bool, "send the job when the surrounding transaction commits (default DQUEUE_ENQUEUE_ON_COMMIT)"
)

#: Set by ``queue_worker``: only a worker process, which owns its connections, closes them.
_in_worker = False


def set_worker_process(in_worker: bool) -> None:
    """Mark this process as a worker (``queue_worker`` does), so jobs get connection hygiene."""
    global _in_worker
    _in_worker = in_worker


# -- enqueue on commit ---------------------------------------------------------------------------


def open_transactions() -> list[str]:
    """Aliases of this thread's database connections that are inside ``atomic()``."""
    from django.db import connections

    return [conn.alias for conn in connections.all(initialized_only=True) if conn.in_atomic_block]


def dispatch_on_commit(jobs: Sequence[Job], options: Mapping[str, Any]) -> list[str]:
    """The dispatcher: hold ``jobs`` until open transactions commit, or send them now.

    ``on_commit`` comes from the task's options (``@task(on_commit=...)`` or
    ``.using(on_commit=...)``); absent or ``None`` means ``DQUEUE_ENQUEUE_ON_COMMIT``.
    """
    settings = get_settings().section(DjangoSettings)
    on_commit = options.get("on_commit")
    held = installed() and (settings.ENQUEUE_ON_COMMIT if on_commit is None else on_commit)
    aliases = open_transactions() if held else []
    if not aliases:
        return send(jobs)
    if settings.OUTBOX and settings.OUTBOX_DATABASE in aliases:
        from .outbox import write_jobs

        return write_jobs(jobs, settings.OUTBOX_DATABASE)
    after_commit(partial(_send_logged, list(jobs)))
    return [job.id for job in jobs]


def _send_logged(jobs: list[Job]) -> None:
    try:
        send(jobs)
    except Exception:
        # The commit is done and cannot be undone: say loudly which jobs were not stored.
        _logger.exception(
            "could not enqueue %d job(s) after the transaction committed: %s",
            len(jobs),
            ", ".join(job.describe() for job in jobs),
        )


def after_commit(callback: Callable[[], object]) -> bool:
    """Call ``callback`` once every open transaction of this thread has committed.

    Calls it at once when no transaction is open (returns ``False``); otherwise returns
    ``True`` and drops it if one of them rolls back. It waits for the default database's
    transaction first when that one is open (else the first open one, in ``DATABASES``
    order), then checks the others again, until none is left open.
    """
    from django.db import DEFAULT_DB_ALIAS, transaction

    aliases = open_transactions()
    if not aliases:
        callback()
        return False
    alias = DEFAULT_DB_ALIAS if DEFAULT_DB_ALIAS in aliases else aliases[0]
    # robust: one failing callback must not stop the others (the commit is done anyway).
    transaction.on_commit(partial(after_commit, callback), using=alias, robust=True)
    return True


# -- running ------------------------------------------------------------------------------------


def is_atomic(task: Task[Any, Any]) -> bool:
    """Whether ``task`` runs inside ``transaction.atomic()``."""
    atomic = task.options.extra.get("atomic")
    return get_settings().section(DjangoSettings).ATOMIC_JOBS if atomic is None else atomic


def atomic_call(task: Task[Any, Any], job: Job, call: Callable[[], Any]) -> Any:
    """Call wrapper: run an atomic task inside ``transaction.atomic()`` (default database)."""
    if not installed() or not is_atomic(task):
        return call()
    from django.db import transaction

    with transaction.atomic():
        return call()


def job_scope(task: Task[Any, Any], job: Job, call: Callable[[], Any]) -> Any:
    """Call wrapper: treat the run of a job like a request.

    Django closes database connections that are broken or past ``CONN_MAX_AGE`` around each
    request; a worker process does the same around each job, so a long-lived worker neither
    keeps a dead connection nor holds one open for ever. Inline runs (the synchronous backend)
    leave the caller's connections alone.
    """
    if not (installed() and _in_worker) or open_transactions():
        return call()
    from django.db import close_old_connections

    close_old_connections()
    try:
        return call()
    finally:
        close_old_connections()
