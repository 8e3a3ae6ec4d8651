"""dqueue-django's one table: the transactional outbox (``DQUEUE_OUTBOX = True``).

See :mod:`dqueue_django.outbox` for how rows are written and relayed.
"""

from __future__ import annotations

from django.db import models

__all__ = ["OutboxJob"]


class OutboxJob(models.Model):
    """A job enqueued inside a transaction, waiting to be relayed to its store.

    The row is written in the same transaction as the caller's data, so it exists exactly when
    that data committed. A relay sends it with the backend's ``enqueue_many`` and deletes it.
    """

    id: models.BigAutoField[int, int] = models.BigAutoField(primary_key=True)
    job_id: models.CharField[str, str] = models.CharField(
        max_length=64, help_text="The job's id (also in the payload)."
    )
    queue: models.CharField[str, str] = models.CharField(max_length=200)
    payload: models.TextField[str, str] = models.TextField(
        help_text="The encoded job envelope (dqueue.job.encode_job)."
    )
    created_at: models.FloatField[float, float] = models.FloatField(
        help_text="When the job was enqueued (epoch seconds)."
    )
    #: Set while one relay is sending the row, so that no other relay sends it meanwhile; a
    #: relay that dies mid-send leaves a claim that runs out at ``claimed_until``.
    claimed_by: models.CharField[str, str] = models.CharField(max_length=32, blank=True, default="")
    claimed_until: models.FloatField[float | None, float | None] = models.FloatField(
        null=True, blank=True
    )

    class Meta:
        """One table, ``dqueue_outbox``."""

        app_label = "dqueue_django"
        db_table = "dqueue_outbox"
        verbose_name = "outbox job"
        # The relay's scan: the oldest rows first, only those past the relay delay.
        indexes = [models.Index(fields=["created_at"], name="dqueue_outbox_created")]

    def __str__(self) -> str:
        return f"{self.job_id} ({self.queue})"
