"""The test app's tasks: each leaves a Record, so that a test can see it ran."""

from __future__ import annotations

from dqueue import task

from .models import Record


@task
def record(kind: str, value: str = "") -> int:
    """Write a Record; return its id."""
    return Record.objects.create(kind=kind, value=value).id


@task(queue="slow")
def record_slowly(kind: str, value: str = "") -> int:
    """Write a Record on the ``slow`` queue."""
    return Record.objects.create(kind=kind, value=value).id


@task(atomic=True, max_attempts=1)
def record_then_fail(kind: str, value: str = "") -> None:
    """Write a Record, enqueue a follow-up, then raise: the transaction drops both."""
    Record.objects.create(kind=kind, value=value)
    record(f"{kind}-follow-up", value)
    raise RuntimeError("failing on purpose after writing")


@task(atomic=False, max_attempts=1)
def record_then_fail_without_atomic(kind: str, value: str = "") -> None:
    """Write a Record then raise, outside a transaction: the row stays."""
    Record.objects.create(kind=kind, value=value)
    raise RuntimeError("failing on purpose after writing")


@task(max_attempts=1)
def charge(card: str) -> None:
    """Fail with the argument in the message, as careless code does (the admin must hide it)."""
    raise ValueError(f"card {card} was declined")
