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
from .backends import get_backend
from .backends.base import JobStatus
from .enqueueing import bulk_enqueue
from .errors import (
    Aborted,
    BackendUnavailable,
    ConfigurationError,
    DQueueError,
    EncodeError,
    InvalidTask,
    InvalidTime,
    JobCancelled,
    JobFailed,
    JobNotFound,
    JobTimeout,
    NoCurrentJob,
    ResultTimeout,
    Retry,
    TaskNotRegistered,
    UnknownQueue,
    UnsupportedOperation,
    UsageError,
)
from .execution import current_job, set_progress
from .handle import JobHandle
from .job import Job, JobFailure
from .settings import Settings, configure, get_settings
from .task import Task, task

__all__ = [
    "Aborted",
    "BackendUnavailable",
    "ConfigurationError",
    "DQueueError",
    "EncodeError",
    "InvalidTask",
    "InvalidTime",
    "Job",
    "JobCancelled",
    "JobFailed",
    "JobFailure",
    "JobHandle",
    "JobNotFound",
    "JobStatus",
    "JobTimeout",
    "NoCurrentJob",
    "ResultTimeout",
    "Retry",
    "Settings",
    "Task",
    "TaskNotRegistered",
    "UnknownQueue",
    "UnsupportedOperation",
    "UsageError",
    "__version__",
    "bulk_enqueue",
    "configure",
    "current_job",
    "get_backend",
    "get_settings",
    "set_progress",
    "task",
]
