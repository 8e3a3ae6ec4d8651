"""Checked by mypy only (``hatch run types:check``): a task call is typed like its function."""

from __future__ import annotations

from datetime import timedelta
from typing import assert_type

from dqueue import JobHandle, Task, task


@task(queue="mail")
def send(to: str, retries: int = 0) -> bool:
    return True


@task
def plain(n: int) -> int:
    return n


def check() -> None:
    typed: Task[[str, int], bool] = send
    assert_type(typed.call("a@example.com", 1), bool)
    assert_type(send("a@example.com", retries=2), JobHandle)
    assert_type(send.enqueue("a@example.com"), JobHandle)
    assert_type(send.enqueue_in(timedelta(seconds=5), "a@example.com"), JobHandle)
    assert_type(send.using(priority=3).enqueue("a@example.com"), JobHandle)
    assert_type(send.call("a@example.com"), bool)
    assert_type(plain.call(1), int)
    send(42)  # type: ignore[arg-type]
    send("a@example.com", retries="x")  # type: ignore[arg-type]
    send("a@example.com", unknown=1)  # type: ignore[call-arg]
    plain.enqueue_in(5, "one")  # type: ignore[arg-type]
