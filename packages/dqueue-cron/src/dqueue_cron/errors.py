"""The errors dqueue-cron raises: all are :class:`dqueue.errors.ConfigurationError`.

A bad schedule is a configuration mistake, found when the entries are loaded (at start-up, or
by ``manage.py check`` under Django), never while the scheduler runs.
"""

from __future__ import annotations

from dqueue.errors import ConfigurationError

__all__ = ["InvalidCronEntry", "InvalidSchedule"]


class InvalidCronEntry(ConfigurationError):
    """A cron entry is malformed: the message names the entry and, where it can, the field.

    ``entry`` is the entry's name (``None`` when the schedule was parsed on its own) and
    ``field`` the offending field or option (``None`` when the whole entry is at fault).
    """

    def __init__(self, problem: str, *, entry: str | None = None, field: str | None = None) -> None:
        self.entry = entry
        self.field = field
        self.problem = problem
        super().__init__(describe(problem, entry=entry, field=field))


class InvalidSchedule(InvalidCronEntry):
    """A schedule (cron string or field dictionary) cannot be parsed, or never fires."""


def describe(problem: str, *, entry: str | None, field: str | None) -> str:
    """``cron entry 'cleanup': field 'hours': 25 is out of range 0-23``."""
    parts = [f"cron entry {entry!r}" if entry is not None else "cron schedule"]
    if field is not None:
        parts.append(f"field {field!r}")
    parts.append(problem)
    return ": ".join(parts)
