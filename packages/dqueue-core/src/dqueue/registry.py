"""The task registry: the only callables a worker will run.

A job names its task by dotted name. A worker looks the name up here and refuses anything not
registered when it started (``DQUEUE_TASKS``, ``--tasks``, Django's apps, plugins' task
modules): a payload can name no other callable, and makes the worker import nothing.
"""

from __future__ import annotations

import threading
import warnings
from typing import TYPE_CHECKING, Any

from .errors import ConfigurationError, TaskNotRegistered
from .loading import import_module

if TYPE_CHECKING:
    from .task import Task

__all__ = ["REGISTRY", "TaskRegistry"]


class TaskRegistry:
    """Maps task names to tasks. Thread-safe."""

    def __init__(self) -> None:
        self._tasks: dict[str, Task[Any, Any]] = {}
        self._lock = threading.Lock()

    def register(self, task: Task[Any, Any]) -> None:
        """Add ``task`` under ``task.name``; a different function under a taken name warns."""
        with self._lock:
            existing = self._tasks.get(task.name)
            # Re-importing a module (reload, __main__ vs its module name) re-registers the
            # same function; only a different function under a taken name is a mistake.
            if (
                existing is not None
                and existing.fn is not task.fn
                and getattr(existing.fn, "__qualname__", None)
                != getattr(task.fn, "__qualname__", 0)
            ):
                warnings.warn(
                    f"task name {task.name!r} registered twice; the later definition wins",
                    stacklevel=3,
                )
            self._tasks[task.name] = task

    def get(self, name: str) -> Task[Any, Any] | None:
        """The task registered under ``name``, without importing anything."""
        return self._tasks.get(name)

    def resolve(self, name: str) -> Task[Any, Any]:
        """The task registered under ``name``; never imports anything (a name comes from a job).

        Raises:
            TaskNotRegistered: nothing registered that name.
        """
        task = self._tasks.get(name)
        if task is None:
            raise TaskNotRegistered(
                name, "no task of that name was imported at start (DQUEUE_TASKS, --tasks)"
            )
        return task

    def load(self, name: str) -> Task[Any, Any]:
        """The task registered under ``name``, importing its module first if needed.

        Only for names an operator typed (``dqueue enqueue``, a cron entry), never for a job's.

        Raises:
            TaskNotRegistered: no such task, or its module failed to import (the reason says which).
        """
        task = self._tasks.get(name)
        if task is not None:
            return task
        module_name, _, _ = name.rpartition(".")
        if not module_name:
            raise TaskNotRegistered(name, "not a dotted name")
        try:
            import_module(module_name, f"module {module_name!r}")
        except ConfigurationError as exc:
            raise TaskNotRegistered(name, str(exc)) from exc
        task = self._tasks.get(name)
        if task is None:
            raise TaskNotRegistered(name, f"module {module_name!r} defines no @task of that name")
        return task

    def names(self) -> list[str]:
        """Every registered name, sorted."""
        return sorted(self._tasks)

    def queues(self) -> set[str]:
        """The queues that registered tasks default to."""
        return {task.options.queue for task in self._tasks.values()}

    def __contains__(self, name: object) -> bool:
        return name in self._tasks


#: The process-wide registry that ``@task`` fills.
REGISTRY = TaskRegistry()
