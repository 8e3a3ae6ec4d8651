"""dqueue: a delayed task and message queue for Python (延迟队列 / 消息队列).

.. code-block:: python

    from dqueue import task

    @task(queue="default")
    def long_running_task(first_arg, second_arg):
        ...

    long_running_task(4, second_arg=9)      # enqueued; returns a JobHandle with the job id
"""

from __future__ import annotations

from ._version import __version__
from .backends import Backend, get_backend
from .backends.base import DeadLetter, JobResult, JobStatus, QueueCounts
from .clock import SYSTEM_CLOCK, Clock, ManualClock
from .enqueueing import bulk_enqueue
from .errors import (
    Aborted,
    BackendError,
    BackendUnavailable,
    ConfigurationError,
    DecodeError,
    DQueueError,
    EncodeError,
    InvalidTask,
    InvalidTime,
    JobFailed,
    JobNotFound,
    JobTimeout,
    LeaseLost,
    ResultTimeout,
    Retry,
    SerializationError,
    TaskNotRegistered,
    UnknownQueue,
    UnsupportedOperation,
    UsageError,
)
from .execution import current_job
from .handle import JobHandle
from .job import Job, JobFailure
from .messages import Message, MessageQueue
from .registry import REGISTRY
from .settings import Settings, configure, get_settings
from .task import Task, TaskOptions, task

__all__ = [
    "REGISTRY",
    "SYSTEM_CLOCK",
    "Aborted",
    "Backend",
    "BackendError",
    "BackendUnavailable",
    "Clock",
    "ConfigurationError",
    "DQueueError",
    "DeadLetter",
    "DecodeError",
    "EncodeError",
    "InvalidTask",
    "InvalidTime",
    "Job",
    "JobFailed",
    "JobFailure",
    "JobHandle",
    "JobNotFound",
    "JobResult",
    "JobStatus",
    "JobTimeout",
    "LeaseLost",
    "ManualClock",
    "Message",
    "MessageQueue",
    "QueueCounts",
    "ResultTimeout",
    "Retry",
    "SerializationError",
    "Settings",
    "Task",
    "TaskNotRegistered",
    "TaskOptions",
    "UnknownQueue",
    "UnsupportedOperation",
    "UsageError",
    "__version__",
    "bulk_enqueue",
    "configure",
    "current_job",
    "get_backend",
    "get_settings",
    "task",
]
