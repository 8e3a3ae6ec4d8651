"""Task options that plugins add: extra ``@task(...)`` keywords the core keeps but never reads.

A plugin registers each in the entry point group ``dqueue.task_options`` (a
:class:`TaskOption`); ``@task(name=value)`` and ``task.using(name=value)`` keep the value in
``task.options.extra`` for the plugin (``None`` or absent: its default). Any other name is a
``TypeError``, as for any unexpected keyword.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .errors import ConfigurationError, InvalidTask
from .loading import load_plugin, plugins

__all__ = ["TASK_OPTIONS_GROUP", "TaskOption", "check_task_options"]

#: The entry point group of task options.
TASK_OPTIONS_GROUP = "dqueue.task_options"


@dataclass(frozen=True, slots=True)
class TaskOption:
    """An extra ``@task`` keyword that a plugin understands.

    Attributes:
        kind: the type of its values (``None`` is always accepted: the plugin's default).
        help: what it does, for documentation and error messages.
    """

    kind: type
    help: str = ""


def check_task_options(task: str, given: Mapping[str, Any]) -> None:
    """Check the plugin options ``given`` to task ``task``.

    Raises:
        TypeError: a name is no option of an installed plugin (as for a bad keyword).
        InvalidTask: a value is not of the option's kind.
    """
    registered = plugins(TASK_OPTIONS_GROUP)
    unknown = sorted(name for name in given if name not in registered)
    if unknown:
        known = ", ".join(sorted(registered)) or "none"
        raise TypeError(
            f"task {task}: unexpected keyword argument(s) {', '.join(map(repr, unknown))}: no "
            f"installed plugin provides such a task option (installed plugins' options: {known})"
        )
    for name, value in given.items():
        option = load_plugin(TASK_OPTIONS_GROUP, name)
        if not isinstance(option, TaskOption):
            raise ConfigurationError(f"{TASK_OPTIONS_GROUP} plugin {name!r} is not a TaskOption")
        if value is not None and not isinstance(value, option.kind):
            expected = f"{option.kind.__name__} or None"
            raise InvalidTask(f"task {task}: {name} must be {expected}, not {value!r}")
