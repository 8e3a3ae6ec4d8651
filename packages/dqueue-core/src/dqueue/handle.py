"""The handle an enqueue returns: the job id, and a way to ask what became of it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from .backends import get_backend
from .backends.base import JobResult, JobStatus
from .clock import SYSTEM_CLOCK, Clock
from .errors import JobCancelled, JobFailed, JobNotFound, ResultTimeout
from .job import Job
from .ops.inspection import failure_summary

__all__ = ["JobHandle", "KeepsResults"]


@runtime_checkable
class KeepsResults(Protocol):
    """A backend that keeps jobs' outcomes for :meth:`JobHandle.result`.

    Every store with ``QueueControl`` does, and so does the synchronous backend, for the jobs it
    ran in this process.
    """

    def result(self, job_id: str) -> JobResult | None:
        """What is known of a job that asked for its result; ``None`` if nothing is."""


@dataclass(frozen=True, slots=True)
class JobHandle:
    """An enqueued job. ``id`` is what stores, logs and ``dqueue dead`` show."""

    id: str
    queue: str
    task: str
    job: Job | None = None

    def __str__(self) -> str:
        return self.id

    def info(self) -> JobResult | None:
        """What the backend knows of the job (it must have been enqueued with a result TTL)."""
        backend = get_backend(self.queue)
        return backend.result(self.id) if isinstance(backend, KeepsResults) else None

    def status(self) -> JobStatus | None:
        """The job's status, or ``None`` when the backend keeps nothing for it."""
        info = self.info()
        return info.status if info else None

    def result(self, timeout: float | None = None, *, clock: Clock = SYSTEM_CLOCK) -> object:
        """Wait up to ``timeout`` seconds for the job to finish; return its return value.

        Raises:
            JobNotFound: the backend keeps nothing for this job (no ``store_result``).
            JobFailed: the job failed for good (it is a dead letter); ``failure`` says how.
            JobCancelled: the job was cancelled before it finished a run.
            ResultTimeout: the job did not finish within ``timeout`` (a ``TimeoutError``).
        """
        deadline = None if timeout is None else clock.time() + timeout
        pause = 0.005
        while True:
            info = self.info()
            if info is None:
                raise JobNotFound(
                    f"no result is kept for job {self.id} (enqueue with store_result)"
                )
            if info.status is JobStatus.SUCCEEDED:
                return info.return_value
            if info.status is JobStatus.DEAD:
                last = info.failures[-1] if info.failures else None
                summary = failure_summary(last) if last else "unknown failure"
                raise JobFailed(
                    f"job {self.id} failed for good: {summary}", failure=last, job_id=self.id
                )
            if info.status is JobStatus.CANCELLED:
                raise JobCancelled(
                    f"job {self.id} was cancelled and will not run again", job_id=self.id
                )
            if deadline is not None and clock.time() >= deadline:
                raise ResultTimeout(f"job {self.id} did not finish within {timeout}s")
            clock.sleep(pause)
            pause = min(pause * 2, 0.25)
