"""Receivers of Django's task signals: each writes a Record, so tests see where they ran."""

from __future__ import annotations

import os
from typing import Any


def connect() -> None:
    """Connect the receivers (Django 6.0+ only)."""
    from django.tasks.signals import task_enqueued, task_finished, task_started

    task_enqueued.connect(_record("task_enqueued"), weak=False, dispatch_uid="dqtest_enqueued")
    task_started.connect(_record("task_started"), weak=False, dispatch_uid="dqtest_started")
    task_finished.connect(_record("task_finished"), weak=False, dispatch_uid="dqtest_finished")


def _record(signal_name: str) -> Any:
    def receiver(sender: type, task_result: Any, **kwargs: Any) -> None:
        from .models import Record

        Record.objects.create(
            kind=signal_name,
            value=f"{task_result.id}:{task_result.status}:{sender.__name__}:{os.getpid()}",
        )

    return receiver
