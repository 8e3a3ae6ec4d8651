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
        where = f"cron entry {entry!r}" if entry is not None else "cron schedule"
        field_part = f"field {field!r}: " if field is not None else ""
        super().__init__(f"{where}: {field_part}{problem}")


class InvalidSchedule(InvalidCronEntry):
    """A schedule (cron string or field dictionary) cannot be parsed, or never fires."""
