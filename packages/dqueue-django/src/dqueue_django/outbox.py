"""The transactional outbox: a commit and its enqueues can never drift apart.

With ``DQUEUE_OUTBOX = True``, a job enqueued while a transaction is open on
``DQUEUE_OUTBOX_DATABASE`` is written as a row of :class:`~dqueue_django.models.OutboxJob` in
that same transaction: the row exists exactly when the caller's data committed. Rows are then
*relayed*, sent to their store with ``enqueue_many`` and deleted:

- at once, by the process that committed (an ``on_commit`` callback), so the normal case is
  about as fast as sending after commit (the rows are born claimed by that process);
- otherwise by :class:`OutboxRelay`, hosted by every ``queue_runner``,
  which picks up rows older than a couple of seconds (the process died after its commit, or
  the store was down).

**Claims.** A relay first claims rows: one conditional ``UPDATE`` sets ``claimed_by`` and
``claimed_until`` on rows that nobody holds (or whose claim ran out). Databases serialize
conflicting updates of a row (SQLite even every write), and the ``UPDATE`` re-checks the
condition when it writes, so two relays never both claim a row. Where the database can skip
locked rows (PostgreSQL, MySQL 8, Oracle), the scan itself runs under
``select_for_update(skip_locked=True)`` so relays don't wait on each other's rows. The send
happens after the claim is committed, outside any transaction: a slow store holds no database
lock. Sent rows are deleted only while still claimed by their sender; a failed send releases
the claim so that the rows are retried.

**Guarantee.** At least once from commit to store: a committed row is deleted only after its
store accepted the job. A job is sent twice only if its sender stored it and then could not
delete the row (it died, or lost the database, in between) or took longer than a claim
(:data:`CLAIM_SECONDS`); every store keeps one copy of a job id while the job waits or runs,
so the second send is dropped, unless the job had already finished by then.
"""

from __future__ import annotations

import contextlib
import logging
import uuid
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from typing import Final

from django.db import DatabaseError, connections, transaction
from django.db.models import Count, Min, Q

from dqueue.backoff import Backoff
from dqueue.clock import SYSTEM_CLOCK, Clock
from dqueue.enqueueing import send
from dqueue.errors import DQueueError
from dqueue.job import Job, decode_job, encode_job
from dqueue.services import ThreadedService

from .models import OutboxJob

__all__ = [
    "BATCH_SIZE",
    "CLAIM_SECONDS",
    "RELAY_AFTER_SECONDS",
    "Backlog",
    "OutboxError",
    "OutboxRelay",
    "backlog_by_queue",
    "relay_after_commit",
    "relay_stale",
    "table_exists",
    "write_jobs",
]

_logger = logging.getLogger("dqueue.django.outbox")

#: A row this old that is still in the outbox was not relayed by its own process.
RELAY_AFTER_SECONDS: Final = 2.0
#: How long a claim holds a row: longer than any send to a store should take.
CLAIM_SECONDS: Final = 120.0
#: Rows claimed per round trip.
BATCH_SIZE: Final = 500


class OutboxError(DQueueError):
    """The outbox table could not be read or written."""


# -- writing (inside the caller's transaction) -------------------------------------------------


def write_jobs(jobs: Sequence[Job], alias: str, *, clock: Clock = SYSTEM_CLOCK) -> list[str]:
    """Insert ``jobs`` into the outbox in the open transaction of ``alias``; return their ids.

    Registers an ``on_commit`` callback that relays these rows at once after the commit. A
    rollback (of the transaction, or of the savepoint around the enqueue) drops the rows and
    the callback with everything else. The rows are born claimed by this process for
    :data:`RELAY_AFTER_SECONDS`, so the relay after commit needs no claim of its own (one
    database write fewer per transaction) and a runner's relay leaves them alone meanwhile.
    """
    now = clock.time()
    token = uuid.uuid4().hex
    until = now + RELAY_AFTER_SECONDS
    OutboxJob.objects.using(alias).bulk_create(
        OutboxJob(
            job_id=job.id,
            queue=job.queue,
            payload=encode_job(job),
            created_at=now,
            claimed_by=token,
            claimed_until=until,
        )
        for job in jobs
    )
    relay = partial(relay_after_commit, alias, token, until, clock=clock)
    transaction.on_commit(relay, using=alias, robust=True)
    return [job.id for job in jobs]


def relay_after_commit(alias: str, token: str, until: float, *, clock: Clock = SYSTEM_CLOCK) -> int:
    """Send and delete the rows born claimed under ``token`` until ``until``; how many.

    Never raises: a failure is logged, and a runner's relay sends the rows later.
    """
    try:
        mine: str | None = token
        if clock.time() >= until:
            # The birth claim ran out (a long commit): claim the rows again, unless another
            # relay took them meanwhile (then they are no longer claimed under ``token``).
            mine = _claim(alias, Q(claimed_by=token), clock.time())
        return _send_claimed(alias, mine) if mine else 0
    except Exception as exc:
        # Nothing is lost: the rows are committed, and a runner's relay sends them soon.
        _logger.warning(
            "could not relay jobs after commit (%s); the outbox relay of a queue_runner "
            "will send them",
            exc,
        )
        return 0


# -- relaying ----------------------------------------------------------------------------------


def relay_stale(
    alias: str,
    *,
    clock: Clock = SYSTEM_CLOCK,
    older_than: float = RELAY_AFTER_SECONDS,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Send and delete every unclaimed row older than ``older_than`` seconds; how many.

    Raises:
        Exception: the store refused the jobs (those rows stay for a retry) or the database
            failed.
    """
    total = 0
    while True:
        now = clock.time()
        scan = (
            OutboxJob.objects.using(alias)
            .filter(_unclaimed(now), created_at__lte=now - older_than)
            .order_by("created_at", "id")
        )
        locks = connections[alias].features.has_select_for_update_skip_locked
        if locks:
            # Rows another relay is claiming right now are skipped, not waited for.
            scan = scan.select_for_update(skip_locked=True)
        # Without row locks (SQLite) the claim's conditional UPDATE alone decides who wins.
        with transaction.atomic(using=alias) if locks else nullcontext():
            pks = list(scan.values_list("pk", flat=True)[:batch_size])
            token = _claim(alias, _unclaimed(now) & Q(pk__in=pks), now) if pks else None
        if token:
            total += _send_claimed(alias, token)
        if len(pks) < batch_size:
            return total


def _unclaimed(now: float) -> Q:
    return Q(claimed_until__isnull=True) | Q(claimed_until__lt=now)


def _claim(alias: str, rows: Q, now: float) -> str | None:
    """Claim the ``rows``; the claim's token, or ``None`` if none was left to claim."""
    token = uuid.uuid4().hex
    claimed = (
        OutboxJob.objects.using(alias)
        .filter(rows)
        .update(claimed_by=token, claimed_until=now + CLAIM_SECONDS)
    )
    return token if claimed else None


def _send_claimed(alias: str, token: str) -> int:
    """Send the rows claimed under ``token``; delete those sent, release them on failure."""
    mine = OutboxJob.objects.using(alias).filter(claimed_by=token)
    rows = list(mine.order_by("id").values_list("pk", "payload"))
    jobs: list[Job] = []
    sendable: list[int] = []
    for pk, payload in rows:
        try:
            jobs.append(decode_job(payload))
        except DQueueError as exc:
            # Kept, not dropped: the row is logged each time its claim runs out.
            problem = "outbox row %d holds a job that cannot be decoded (%s): %r"
            _logger.error(problem, pk, exc, payload)
            continue
        sendable.append(pk)
    if not jobs:
        return 0
    try:
        send(jobs)
    except BaseException:
        mine.filter(pk__in=sendable).update(claimed_by="", claimed_until=None)
        raise
    # Only rows still ours: one whose claim ran out meanwhile belongs to its new claimer.
    mine.filter(pk__in=sendable).delete()
    return len(jobs)


# -- the relay service ---------------------------------------------------------------------------


class OutboxRelay(ThreadedService):
    """Relays stale outbox rows of database ``alias`` to their stores, in a daemon thread.

    Every ``queue_runner`` hosts one when ``DQUEUE_OUTBOX`` is on. It wakes about once a
    second and sends the rows older than :data:`RELAY_AFTER_SECONDS` that nobody holds. A store
    or database that fails is logged and retried with backoff; the rows wait meanwhile.

    Args:
        alias: the database holding the outbox (``DQUEUE_OUTBOX_DATABASE``).
        clock: the time source (tests pass a manual clock and call :meth:`tick`).
        interval_s: the pause between two scans while everything works.
    """

    queues: frozenset[str] = frozenset()  # it sends jobs to stores, to no queue of its own

    def __init__(self, alias: str, *, clock: Clock = SYSTEM_CLOCK, interval_s: float = 1.0) -> None:
        super().__init__("outbox relay", _logger)
        self.alias = alias
        self.clock = clock
        self.interval_s = interval_s
        # 1 s doubling up to 30 s, as the README promises: no jitter, one relay per runner.
        self._backoff = Backoff(1.0, 30.0, jitter=0.0)

    def tick(self) -> int:
        """One scan that never raises: how many rows were sent; failures are logged."""
        try:
            sent = relay_stale(self.alias, clock=self.clock)
        except Exception as exc:
            self.delay_s = self._backoff.next_delay()
            _logger.warning(
                "outbox relay: could not relay outbox jobs of database %r (%s: %s); "
                "retrying in %.1f s (if the table is missing: manage.py migrate dqueue_django)",
                self.alias,
                type(exc).__name__,
                exc,
                self.delay_s,
            )
            # A dead connection may fail to close; it is dropped anyway.
            with contextlib.suppress(Exception):
                connections[self.alias].close_if_unusable_or_obsolete()
            return 0
        if self._backoff.failures:
            _logger.info("outbox relay: database %r and stores reachable again", self.alias)
        self._backoff.reset()
        self.delay_s = self.interval_s
        if sent:
            _logger.info("outbox relay: sent %d job(s) left in the outbox", sent)
        return sent

    def _thread_exiting(self) -> None:
        connections[self.alias].close()  # this thread's own connection


# -- introspection -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backlog:
    """Jobs waiting in the outbox: how many, and how long the oldest has waited."""

    waiting: int
    oldest_age_s: float | None


def backlog_by_queue(alias: str, *, clock: Clock = SYSTEM_CLOCK) -> dict[str, Backlog]:
    """The outbox's backlog per queue.

    Raises:
        OutboxError: the outbox table cannot be read (not migrated, database down).
    """
    now = clock.time()
    try:
        found = list(
            OutboxJob.objects.using(alias)
            .values("queue")
            .annotate(waiting=Count("id"), oldest=Min("created_at"))
            .order_by("queue")
        )
    except DatabaseError as exc:
        raise OutboxError(
            f"cannot read the outbox in database {alias!r} ({exc}); "
            "is it migrated (manage.py migrate dqueue_django)?"
        ) from exc
    return {row["queue"]: Backlog(row["waiting"], max(now - row["oldest"], 0.0)) for row in found}


def table_exists(alias: str) -> bool:
    """Whether the outbox table exists in ``alias`` (``migrate dqueue_django`` was run).

    Raises:
        OutboxError: the database cannot be reached.
    """
    try:
        with connections[alias].cursor() as cursor:
            names = connections[alias].introspection.table_names(cursor)
    except DatabaseError as exc:
        raise OutboxError(f"cannot read the tables of database {alias!r}: {exc}") from exc
    return OutboxJob._meta.db_table in names
