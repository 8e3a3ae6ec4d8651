"""Cron entries: what to run, on which schedule, and how.

An entry names a registered dqueue task (a dotted name or the :class:`~dqueue.Task` itself)
with its arguments. Django management commands are entries too: dqueue-django points them at
its own task that calls ``call_command`` (see :func:`entry_from_dict`'s ``command_task``).
Options left at ``None`` take their value from the settings (``DQUEUE_CRON_*``) or the task
when the scheduler starts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any, Final, cast

from dqueue.errors import EncodeError
from dqueue.job import check_json_arguments
from dqueue.task import Task

from .errors import InvalidCronEntry
from .parsing import SCHEDULE_KEYS, Schedule, parse_schedule
from .schedule import CronExpression, resolve_zone

__all__ = ["CATCH_UP_POLICIES", "ENTRY_KEYS", "CronEntry", "entry_from_dict"]

#: ``skip``: run no slot missed while nothing ran; ``latest``: run the most recent one, once;
#: ``all``: run every one of them (within the catch-up window), oldest first.
CATCH_UP_POLICIES: Final = ("skip", "latest", "all")


@dataclass(frozen=True, slots=True, kw_only=True)
class CronEntry:
    """One scheduled job. Validated when built: a bad value raises :class:`InvalidCronEntry`.

    Attributes:
        schedule: a cron string (``"*/5 9-17 * * mon-fri"``, ``"@daily"``), a field
            dictionary (``{"minutes": "0, 30", "hours": "*"}``) or a parsed
            :class:`CronExpression`; stored parsed (see :attr:`expression`).
        task: the task to run, by dotted name or as the :class:`~dqueue.Task`; stored as the
            name (see :attr:`task_name`).
        name: unique among the entries; the task name when not given.
        args, kwargs: the task's arguments (JSON values).
        queue: the queue the jobs go to (``DQUEUE_CRON_QUEUE``).
        timeout: seconds one run may take (the task's own timeout).
        sigkill_on_stop: kill a run at once on shutdown (the task's own setting).
        max_attempts: runs before a failing slot goes to the dead letters (the task's own).
        timezone: the IANA zone the schedule is read in (``DQUEUE_CRON_TIMEZONE``).
        catch_up: what to do with slots missed while no scheduler ran: ``skip``, ``latest``
            or ``all`` (``DQUEUE_CRON_CATCH_UP``).
        catch_up_window: how many seconds back ``latest`` and ``all`` look
            (``DQUEUE_CRON_CATCH_UP_WINDOW``).
        prevent_overlap: skip a slot while the previous run of this entry is still queued,
            running or waiting for a retry.
        enabled: a disabled entry is kept (and shown) but never scheduled.
    """

    schedule: Schedule
    task: str | Task[Any, Any]
    name: str = ""
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    queue: str | None = None
    timeout: float | None = None
    sigkill_on_stop: bool | None = None
    max_attempts: int | None = None
    timezone: str | None = None
    catch_up: str | None = None
    catch_up_window: float | None = None
    prevent_overlap: bool = False
    enabled: bool = True

    def __post_init__(self) -> None:
        task_name = _task_name(self.task, self.name)
        name = self.name or task_name
        if not isinstance(name, str):
            raise InvalidCronEntry(f"{name!r} is not a string", entry=str(name), field="name")
        _set(self, "task", task_name)
        _set(self, "name", name)
        _set(self, "schedule", parse_schedule(self.schedule, entry=name))
        _check_arguments(self, name)
        _check_options(self, name)

    @property
    def expression(self) -> CronExpression:
        """The parsed schedule."""
        return cast(CronExpression, self.schedule)  # parsed in __post_init__

    @property
    def task_name(self) -> str:
        """The dotted name of the task this entry runs."""
        return self.task if isinstance(self.task, str) else self.task.name


def _set(entry: CronEntry, name: str, value: Any) -> None:
    object.__setattr__(entry, name, value)


def _task_name(target: object, name: str) -> str:
    if isinstance(target, Task):
        return target.name
    if isinstance(target, str) and "." in target.strip(".") and " " not in target:
        return target
    raise InvalidCronEntry(
        f"{target!r} is not a registered task (a dotted name such as 'app.tasks.cleanup', or "
        "the @task function itself)",
        entry=name or None,
        field="task",
    )


def _check_arguments(entry: CronEntry, name: str) -> None:
    given_args: object = entry.args  # whatever the user passed, before it is checked
    given_kwargs: object = entry.kwargs
    if not isinstance(given_args, list | tuple):
        raise InvalidCronEntry(f"{given_args!r} is not a list", entry=name, field="args")
    if not isinstance(given_kwargs, Mapping):
        raise InvalidCronEntry(f"{given_kwargs!r} is not a dictionary", entry=name, field="kwargs")
    args, kwargs = tuple(given_args), MappingProxyType(dict(given_kwargs))
    try:
        check_json_arguments(args, kwargs, task=entry.task_name)
    except EncodeError as exc:
        raise InvalidCronEntry(str(exc), entry=name, field="args") from exc
    _set(entry, "args", args)
    _set(entry, "kwargs", kwargs)


def _check_options(entry: CronEntry, name: str) -> None:
    def refuse(option: str, problem: str) -> InvalidCronEntry:
        return InvalidCronEntry(f"{getattr(entry, option)!r} {problem}", entry=name, field=option)

    if entry.queue is not None and (not isinstance(entry.queue, str) or not entry.queue):
        raise refuse("queue", "is not a queue name")
    for flag in ("sigkill_on_stop", "prevent_overlap", "enabled"):
        value = getattr(entry, flag)
        if not isinstance(value, bool) and not (flag == "sigkill_on_stop" and value is None):
            raise refuse(flag, "is not True or False")
    attempts = entry.max_attempts
    if attempts is not None and (
        isinstance(attempts, bool) or not isinstance(attempts, int) or attempts < 1
    ):
        raise refuse("max_attempts", "is not a whole number of 1 or more")
    if entry.timezone is not None:
        resolve_zone(entry.timezone, entry=name)
    if entry.catch_up is not None and entry.catch_up not in CATCH_UP_POLICIES:
        raise refuse("catch_up", f"is not one of {', '.join(CATCH_UP_POLICIES)}")
    for option, least in (("timeout", "more than 0"), ("catch_up_window", "0 or more seconds")):
        seconds = getattr(entry, option)
        if seconds is None:
            continue
        if isinstance(seconds, bool) or not isinstance(seconds, int | float):
            raise refuse(option, "is not a number of seconds")
        if not math.isfinite(seconds):
            raise refuse(option, "is not a number of seconds")
        if seconds < 0 or (seconds == 0 and option == "timeout"):
            raise refuse(option, f"must be {least}")
        _set(entry, option, float(seconds))


#: The options a dictionary entry may give by name: every field of an entry but its target.
_OPTION_KEYS: Final = tuple(
    option.name
    for option in fields(CronEntry)
    if option.name not in ("schedule", "task", "args", "kwargs")
)
_TARGET_KEYS: Final = ("task", "args", "kwargs", "command", "command_args", "command_kwargs")
#: Every key a dictionary entry may have.
ENTRY_KEYS: Final = frozenset((*_OPTION_KEYS, *SCHEDULE_KEYS, "schedule", *_TARGET_KEYS))


def entry_from_dict(
    data: Mapping[str, Any], *, command_task: str | None = None, where: str | None = None
) -> CronEntry:
    """Build an entry from a dictionary: django-lightweight-queue's ``cron.py`` rows, extended.

    The target is either ``task`` (with ``args`` and ``kwargs``) or ``command`` (with
    ``command_args`` and ``command_kwargs``), which runs ``command_task`` with the arguments
    ``(command, *command_args)`` and the keyword arguments ``command_kwargs``; dqueue-django
    passes its own ``call_command`` task. The schedule is ``schedule`` (a cron string) or the
    fields ``seconds``, ``minutes``, ``hours``, ``days`` (ISO weekdays 1-7), ``days_of_month``,
    ``months``. Every option of :class:`CronEntry` may be given by name. Unknown keys are
    errors, so that a typo does not pass silently.

    ``where`` names the entry in errors when it has no name yet (``"myapp.cron CONFIG[2]"``).

    Raises:
        InvalidCronEntry: the dictionary is malformed; the message names the entry and key.
    """
    label = _label(data, where)
    if not isinstance(data, Mapping):
        raise InvalidCronEntry(f"{data!r} is not a dictionary", entry=label)
    unknown = sorted(str(key) for key in data if key not in ENTRY_KEYS)
    if unknown:
        raise InvalidCronEntry(
            f"unknown key(s) {', '.join(map(repr, unknown))} "
            f"(known: {', '.join(sorted(ENTRY_KEYS))})",
            entry=label,
        )
    task, args, kwargs, default_name = _target(data, command_task, label)
    fields_given = [key for key in SCHEDULE_KEYS if key in data]
    if "schedule" in data and fields_given:
        raise InvalidCronEntry(
            f"give either 'schedule' or the fields {', '.join(map(repr, fields_given))}, not both",
            entry=label,
        )
    schedule = data["schedule"] if "schedule" in data else {key: data[key] for key in fields_given}
    options = {key: data[key] for key in _OPTION_KEYS if key in data}
    options.setdefault("name", default_name)
    return CronEntry(schedule=schedule, task=task, args=args, kwargs=kwargs, **options)


def _label(data: object, where: str | None) -> str:
    if isinstance(data, Mapping):
        for key in ("name", "command", "task"):
            value = data.get(key)
            if isinstance(value, str) and value:
                return value
            if isinstance(value, Task):
                return value.name
    return where or "?"


def _target(
    data: Mapping[str, Any], command_task: str | None, label: str
) -> tuple[str | Task[Any, Any], Any, Any, str]:
    if ("task" in data) == ("command" in data):
        raise InvalidCronEntry("give exactly one of 'task' and 'command'", entry=label)
    if "task" in data:
        misplaced, hint = ("command_args", "command_kwargs"), "goes with 'command', not 'task'"
    else:
        misplaced = ("args", "kwargs")
        hint = "goes with 'task'; a command takes 'command_args' and 'command_kwargs'"
    for key in misplaced:
        if key in data:
            raise InvalidCronEntry(f"{key!r} {hint}", entry=label)
    if "task" in data:
        task = data["task"]
        default_name = task.name if isinstance(task, Task) else str(task)
        return task, data.get("args", ()), data.get("kwargs", {}), default_name
    command = data["command"]
    if not isinstance(command, str) or not command:
        raise InvalidCronEntry(f"{command!r} is not a command name", entry=label, field="command")
    if command_task is None:
        raise InvalidCronEntry(
            "'command' runs a Django management command, which needs dqueue-django "
            "(a cron.py CONFIG); for a plain script give 'task' instead",
            entry=label,
            field="command",
        )
    command_args = data.get("command_args", ())
    if isinstance(command_args, str | bytes) or not isinstance(command_args, list | tuple):
        raise InvalidCronEntry(f"{command_args!r} is not a list", entry=label, field="command_args")
    return command_task, (command, *command_args), data.get("command_kwargs", {}), command
