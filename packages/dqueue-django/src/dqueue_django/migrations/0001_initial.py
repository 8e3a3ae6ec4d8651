"""The transactional outbox table (``DQUEUE_OUTBOX``)."""

from __future__ import annotations

from django.db import migrations, models


class Migration(migrations.Migration):
    """Create ``dqueue_outbox``."""

    initial = True

    operations = [
        migrations.CreateModel(
            name="OutboxJob",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "job_id",
                    models.CharField(
                        help_text="The job's id (also in the payload).", max_length=64
                    ),
                ),
                ("queue", models.CharField(max_length=200)),
                (
                    "payload",
                    models.TextField(help_text="The encoded job envelope (dqueue.job.encode_job)."),
                ),
                (
                    "created_at",
                    models.FloatField(help_text="When the job was enqueued (epoch seconds)."),
                ),
                ("claimed_by", models.CharField(blank=True, default="", max_length=32)),
                ("claimed_until", models.FloatField(blank=True, null=True)),
            ],
            options={
                "verbose_name": "outbox job",
                "db_table": "dqueue_outbox",
                "indexes": [models.Index(fields=["created_at"], name="dqueue_outbox_created")],
            },
        ),
    ]
