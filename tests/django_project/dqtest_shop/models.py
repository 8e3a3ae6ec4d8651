"""One table the tasks write to, so that tests can see what ran."""

from __future__ import annotations

from django.db import models


class Record(models.Model):
    """Something a task (or a cron command) did."""

    kind = models.CharField(max_length=50)
    value = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.kind}:{self.value}"
