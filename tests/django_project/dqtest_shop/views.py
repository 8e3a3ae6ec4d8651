"""Views that enqueue, as a real project's would."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest, JsonResponse

from .models import Record
from .tasks import record


def enqueue_record(request: HttpRequest) -> JsonResponse:
    """Save a row and enqueue a task in one transaction; the job is sent on commit."""
    value = request.GET.get("value", "")
    with transaction.atomic():
        Record.objects.create(kind="view", value=value)
        handle = record("from-view", value)
    return JsonResponse({"job_id": handle.id})


def enqueue_then_fail(request: HttpRequest) -> JsonResponse:
    """Enqueue inside a transaction that then rolls back: the job is never sent."""
    value = request.GET.get("value", "")
    handle = None
    try:
        with transaction.atomic():
            Record.objects.create(kind="view-rolled-back", value=value)
            handle = record("from-rolled-back-view", value)
            raise ValueError("the view fails after enqueueing")
    except ValueError:
        pass
    return JsonResponse({"job_id": handle.id if handle else None}, status=500)
