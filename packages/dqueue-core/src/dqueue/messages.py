"""The delayed message queue, without tasks: put a JSON payload, get it when due, ack or nack.

.. code-block:: python

    from dqueue.messages import MessageQueue

    inbox = MessageQueue("inbox")              # the configured backend for queue "inbox"
    inbox.put({"order": 42}, delay=30)         # due in 30 s
    message = inbox.get(timeout=60)            # blocks until one is due, or None
    if message is not None:
        handle(message.payload)
        inbox.ack(message)                     # or inbox.nack(message, delay=10)

Messages are jobs of the reserved task ``dqueue.message`` on their own queue, so they get
delays, leases, attempts and dead letters from the same store. Keep message queues apart from
task queues: a worker that reserved a message would dead-letter it as an unregistered task.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from .backends import Backend, get_backend
from .backends.base import Outcome, OutcomeKind
from .clock import to_epoch
from .errors import InvalidTask, LeaseLost
from .failures import FailureKind
from .identity import process_identity
from .job import MESSAGE_TASK, Job, JobFailure, check_json_value, new_job_id
from .settings import get_settings

__all__ = ["Message", "MessageQueue"]

_consumer_numbers = itertools.count(1)


@dataclass(frozen=True, slots=True)
class Message:
    """A message taken from a queue. ``attempt`` is 1 the first time it is handed out."""

    id: str
    payload: Any
    attempt: int
    job: Job


class MessageQueue:
    """A named queue of JSON messages on a backend (the configured one by default)."""

    def __init__(
        self, name: str, *, backend: Backend | None = None, max_attempts: int | None = None
    ) -> None:
        if not name:
            raise InvalidTask("a message queue needs a name")
        self.name = name
        self.backend = backend or get_backend(name)
        self.max_attempts = max_attempts or get_settings().DEFAULT_MAX_ATTEMPTS
        self.consumer_id = f"{process_identity()}:msg{next(_consumer_numbers)}"

    def put(
        self,
        payload: Any,
        *,
        delay: timedelta | float | None = None,
        at: datetime | None = None,
        priority: int = 0,
        unique_key: str | None = None,
    ) -> str:
        """Store ``payload``, due after ``delay`` or at ``at``; return the message id.

        Raises:
            EncodeError: the payload does not survive JSON; nothing is stored.
            InvalidTask: the delay is negative, or ``at`` is naive.
        """
        check_json_value(payload, where=f"the payload of a message for {self.name!r}")
        now = self.backend.clock.time()
        run_after: float | None = None
        if delay is not None:
            seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
            if seconds < 0:
                raise InvalidTask(f"delay must be 0 or more seconds, not {delay!r}")
            run_after = now + seconds if seconds > 0 else None
        if at is not None:
            try:
                run_after = to_epoch(at)
            except ValueError as exc:
                raise InvalidTask(str(exc)) from exc
        job = Job(
            id=new_job_id(),
            task=MESSAGE_TASK,
            queue=self.name,
            args=(payload,),
            enqueued_at=now,
            run_after=run_after,
            max_attempts=self.max_attempts,
            priority=priority,
            unique_key=unique_key,
        )
        return self.backend.enqueue(job)

    def get(self, timeout: float = 0.0) -> Message | None:
        """The next due message, waiting up to ``timeout`` seconds; ``None`` if none came."""
        jobs = self.backend.reserve(self.name, worker_id=self.consumer_id, timeout_s=timeout)
        if not jobs:
            return None
        job = jobs[0]
        return Message(
            id=job.id, payload=job.args[0] if job.args else None, attempt=job.attempt, job=job
        )

    def ack(self, message: Message) -> None:
        """Done with ``message``: forget it.

        Raises:
            LeaseLost: the lease ran out and the message went back to the queue.
        """
        self._settle(Outcome(job=message.job, kind=OutcomeKind.ACK))

    def nack(self, message: Message, *, delay: float = 0.0, reason: str = "nack") -> None:
        """Give ``message`` back, due again after ``delay``; out of attempts, dead-lettered."""
        now = self.backend.clock.time()
        failure = JobFailure.from_reason(FailureKind.NACK, reason, at=now, attempt=message.attempt)
        if message.attempt >= message.job.max_attempts:
            outcome = Outcome(job=message.job, kind=OutcomeKind.DEAD, failure=failure)
        else:
            outcome = Outcome(
                job=message.job, kind=OutcomeKind.RETRY, failure=failure, run_after=now + delay
            )
        self._settle(outcome)

    def _settle(self, outcome: Outcome) -> None:
        if self.backend.settle([outcome], worker_id=self.consumer_id):
            raise LeaseLost(f"message {outcome.job.id} is no longer leased to this consumer")

    def __len__(self) -> int:
        return self.backend.length(self.name)
