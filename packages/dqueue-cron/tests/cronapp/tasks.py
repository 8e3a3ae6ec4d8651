"""Tasks that the cron tests schedule."""

from __future__ import annotations

from dqueue import task

RUNS: list[tuple[str, int]] = []


@task(queue="reports", timeout=30, max_attempts=5, sigkill_on_stop=True, priority=7)
def report(kind: str, slot: int = 0) -> None:
    RUNS.append((kind, slot))


@task
def cleanup() -> None:
    RUNS.append(("cleanup", 0))
