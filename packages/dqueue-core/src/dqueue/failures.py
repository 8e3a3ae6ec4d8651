"""The kinds of failure that dqueue itself records, when no exception of a task is behind one.

A lease expired, a consumer gave a message back: a :class:`~dqueue.job.JobFailure` names one of
these instead of an exception type. The values are the strings stored since the first version
(the Redis scripts receive them as arguments), so old and new records read the same.
"""

from __future__ import annotations

import enum

__all__ = ["FailureKind"]


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
