"""The errors dqueue raises, under one root: ``except DQueueError`` catches them all.

Backend packages subclass these and never let their client library's exceptions escape.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .job import JobFailure

__all__ = [
    "Aborted",
    "BackendError",
    "BackendUnavailable",
    "ConfigurationError",
    "DQueueError",
    "DecodeError",
    "EncodeError",
    "InvalidTask",
    "InvalidTime",
    "JobCancelled",
    "JobFailed",
    "JobNotFound",
    "JobTimeout",
    "LeaseLost",
    "NoCurrentJob",
    "ResultTimeout",
    "Retry",
    "SignatureMismatch",
    "TaskNotRegistered",
    "UnknownQueue",
    "UnsupportedOperation",
    "UsageError",
]


class DQueueError(Exception):
    """The root of every error dqueue raises."""


class ConfigurationError(DQueueError):
    """A setting has a bad value or a component cannot be loaded; the message names the setting."""


class InvalidTask(DQueueError, ValueError):
    """A task or an enqueue call was rejected before anything was stored."""


class SignatureMismatch(InvalidTask, TypeError):
    """A task was called with arguments its function cannot take, as a direct call would be.

    A ``TypeError`` like the one the call itself would raise; nothing was stored.
    """


class TaskNotRegistered(DQueueError, LookupError):
    """A job names a task that no ``@task`` registered."""

    def __init__(self, name: str, reason: str | None = None) -> None:
        self.name = name
        detail = f": {reason}" if reason else ""
        super().__init__(f"task {name!r} is not registered{detail}")


class EncodeError(DQueueError, TypeError):
    """An argument does not survive a JSON round trip; the message names the argument."""


class DecodeError(DQueueError, ValueError):
    """A stored payload is not a valid job envelope; ``payload`` keeps the raw bytes."""

    def __init__(self, message: str, payload: bytes | str) -> None:
        super().__init__(message)
        self.payload = payload


class BackendError(DQueueError):
    """The store failed an operation."""


class BackendUnavailable(BackendError):
    """The store cannot be reached; callers retry with backoff."""


class JobNotFound(BackendError, LookupError):
    """No job with that id is known to the backend."""


class LeaseLost(BackendError):
    """A worker tried to settle a job whose lease it no longer holds."""


class UnsupportedOperation(BackendError):
    """The configured backend cannot do what was asked (see its capability flags)."""


class NoCurrentJob(DQueueError, RuntimeError):
    """Something only a running task may do (``dqueue.set_progress``) was called outside one."""


class JobTimeout(DQueueError):
    """Raised inside a task that ran past its ``timeout``."""


class JobFailed(DQueueError):
    """A job failed for good (it is a dead letter); ``failure`` says how its last run failed."""

    def __init__(
        self, message: str, *, failure: JobFailure | None = None, job_id: str | None = None
    ) -> None:
        super().__init__(message)
        self.job_id = job_id
        self.failure = failure


class JobCancelled(DQueueError):
    """A job was cancelled (``dqueue cancel``): it will not run again, so it has no result."""

    def __init__(self, message: str, *, job_id: str | None = None) -> None:
        super().__init__(message)
        self.job_id = job_id


class ResultTimeout(DQueueError, TimeoutError):
    """A job did not finish within the time its caller was willing to wait for its result."""


class UsageError(DQueueError):
    """A command or operation asked for wrongly; ``dqueue`` prints it in one line, exit status 2."""


class InvalidTime(UsageError, ValueError):
    """A duration (``1h30m``) or a time (ISO 8601) given by a user cannot be used."""


class UnknownQueue(DQueueError, LookupError):
    """No setting, task or store knows a queue of that name (a typo, most likely)."""


class Aborted(DQueueError):
    """The user was asked to confirm and did not: nothing was changed."""


class Retry(Exception):
    """Raise inside a task to ask for another attempt, optionally after ``delay`` seconds.

    Not a :class:`DQueueError`, so that ``except DQueueError`` in a task cannot swallow it.
    """

    def __init__(self, delay: float | None = None, reason: str = "") -> None:
        super().__init__(reason or "retry requested")
        self.delay = delay
