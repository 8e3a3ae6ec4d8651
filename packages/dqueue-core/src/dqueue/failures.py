"""Why a run of a job failed, as data, and the kinds of failure that dqueue itself records.

A :class:`JobFailure` describes a task's exception, or, when no exception of a task is behind
one (a lease expired, a consumer gave a message back), names a :class:`FailureKind` instead of
an exception type. The kinds' values are the strings stored since the first version (the Redis
scripts receive them as arguments), so old and new records read the same.
"""

from __future__ import annotations

import enum
import traceback as traceback_module
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["FailureKind", "JobFailure"]


class FailureKind(enum.StrEnum):
    """What failed, when it was not a task's own exception (stored as the value)."""

    #: The worker holding the lease stopped renewing it (it crashed, was killed or is stuck).
    LEASE_EXPIRED = "dqueue.LeaseExpired"
    #: A job was moved to the dead letters without a failure of its own.
    DEAD = "dqueue.Dead"
    #: A job was retried without a failure of its own.
    RETRY = "dqueue.Retry"
    #: A consumer of :mod:`dqueue.messages` gave a message back.
    NACK = "dqueue.Nack"
    #: A stored payload is not a job envelope.
    UNDECODABLE = "dqueue.errors.DecodeError"
    #: The outcome of a run held something no store can write (see ``lifecycle.storable``).
    UNSTORABLE = "dqueue.errors.EncodeError"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFailure:
    """Why a run of a job failed, as data: never a pickled exception."""

    exception_type: str
    message: str
    traceback: str = ""
    at: float = 0.0
    attempt: int = 0

    @classmethod
    def from_exception(cls, exc: BaseException, *, at: float, attempt: int) -> JobFailure:
        """Describe ``exc`` (with its traceback) as a failure of run ``attempt``."""
        kind = type(exc)
        return cls(
            exception_type=f"{kind.__module__}.{kind.__qualname__}",
            message=str(exc),
            traceback="".join(traceback_module.format_exception(exc)),
            at=at,
            attempt=attempt,
        )

    @classmethod
    def from_reason(cls, kind: str, message: str, *, at: float, attempt: int) -> JobFailure:
        """Describe a failure without an exception object (a lost lease, a killed worker).

        ``kind`` is usually a :class:`~dqueue.failures.FailureKind`; its value is stored.
        """
        return cls(exception_type=str(kind), message=message, at=at, attempt=attempt)

    def to_dict(self) -> dict[str, Any]:
        """Return the failure as a JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobFailure:
        """Read a failure written by :meth:`to_dict`, ignoring unknown keys."""
        return cls(
            exception_type=str(data.get("exception_type", "")),
            message=str(data.get("message", "")),
            traceback=str(data.get("traceback", "")),
            at=float(data.get("at", 0.0)),
            attempt=int(data.get("attempt", 0)),
        )

    def summary(self) -> str:
        """One line: ``ValueError: bad input``."""
        short = self.exception_type.rsplit(".", 1)[-1]
        return f"{short}: {self.message}" if self.message else short
