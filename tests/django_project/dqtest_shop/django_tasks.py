"""Tasks of Django's own Tasks framework (Django 6.0+), run by dqueue's TASKS backend."""

from __future__ import annotations

from typing import Any

from django.tasks import TaskContext, task

from .models import Record


@task
def add(a: int, b: int) -> int:
    return a + b


@task(queue_name="django-tasks", priority=10)
def write_record(value: str) -> int:
    return Record.objects.create(kind="django-task", value=value).id


@task(takes_context=True)
def which_attempt(context: TaskContext[Any, Any]) -> dict[str, Any]:
    return {"attempt": context.attempt, "id": context.task_result.id}


@task
def explode(message: str) -> None:
    raise ValueError(message)


@task
def unserialisable() -> object:
    return object()


@task
async def add_async(a: int, b: int) -> int:
    return a + b
