"""dqueue-cron's own task: the marker that claims a slot of an entry with ``prevent_overlap``.

An entry that prevents overlap needs two unique keys per slot: one per slot (so that the slot
is enqueued once however many schedulers run) and one per entry, held while a run is queued or
running (so that a slot is skipped while the previous run is unfinished). A job carries one
key, so the per-slot key rides on this marker job, which does nothing when a worker runs it:
the key stays taken for its ``unique_for`` either way.

Only workers import this module (at start, through the ``dqueue.tasks`` entry point: a job's
task name imports nothing); the scheduler names the task without importing it, so that a
runner's master does not register it, and its queue does not count as a queue of registered
tasks.
"""

from __future__ import annotations

from dqueue.task import task

__all__ = ["claim_slot"]


@task(name="dqueue_cron.tasks.claim_slot", queue="cron", max_attempts=1)
def claim_slot(entry: str, slot: int) -> None:
    """Mark slot ``slot`` of cron entry ``entry`` as taken; there is nothing to run."""
