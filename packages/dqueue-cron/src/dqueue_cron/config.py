"""Loading entries: ``DQUEUE_CRON`` for plain scripts, ``CONFIG`` lists for dqueue-django.

``DQUEUE_CRON`` is a list whose items are dictionaries (see
:func:`~dqueue_cron.entry.entry_from_dict`), :class:`~dqueue_cron.entry.CronEntry` objects,
or dotted paths (``"myproject.schedules.ENTRIES"``) to a list of either, or to one entry.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dqueue.errors import ConfigurationError
from dqueue.loading import import_string
from dqueue.settings import Settings, SettingsSection, bad_value

from .entry import CATCH_UP_POLICIES, CronEntry, entry_from_dict
from .errors import InvalidCronEntry

__all__ = ["CronSettings", "check_unique_names", "entries_from_settings", "load_entries"]


@dataclass(frozen=True, slots=True, kw_only=True)
class CronSettings(SettingsSection):
    """``DQUEUE_CRON*``: the entries and their defaults (see the dqueue-cron README).

    Registered with the entry point group ``dqueue.settings``; read it with
    ``settings.section(CronSettings)``.
    """

    CRON: tuple[Any, ...] = ()
    CRON_QUEUE: str = "cron"
    CRON_TIMEZONE: str = "UTC"
    CRON_CATCH_UP: str = "latest"
    CRON_CATCH_UP_WINDOW: float = 3600.0

    def validate(self) -> None:
        """Refuse an unknown catch-up policy and a negative catch-up window."""
        if self.CRON_CATCH_UP not in CATCH_UP_POLICIES:
            policies = f"one of {', '.join(CATCH_UP_POLICIES)}"
            raise bad_value("CRON_CATCH_UP", policies, self.CRON_CATCH_UP)
        if self.CRON_CATCH_UP_WINDOW < 0:
            raise bad_value("CRON_CATCH_UP_WINDOW", "0 or more", self.CRON_CATCH_UP_WINDOW)


def load_entries(
    items: Iterable[object], *, where: str = "DQUEUE_CRON", command_task: str | None = None
) -> list[CronEntry]:
    """Build entries from dictionaries, entries and dotted paths to lists of them.

    ``where`` names the source in errors (``DQUEUE_CRON``, ``myapp.cron CONFIG``);
    ``command_task`` is the task that runs ``command`` entries (dqueue-django's).

    Raises:
        InvalidCronEntry: an item is malformed, or two entries share a name.
        ConfigurationError: a dotted path cannot be imported.
    """
    if isinstance(items, str | bytes | Mapping) or not isinstance(items, Iterable):
        raise InvalidCronEntry(f"{where} must be a list of entries, not {items!r}", entry=None)
    entries: list[CronEntry] = []
    for index, item in enumerate(items):
        entries.extend(_load_item(item, f"{where}[{index}]", command_task))
    check_unique_names(entries)
    return entries


def _load_item(item: object, label: str, command_task: str | None) -> list[CronEntry]:
    if isinstance(item, CronEntry):
        return [item]
    if isinstance(item, Mapping):
        return [entry_from_dict(item, command_task=command_task, where=label)]
    if isinstance(item, str):
        target = import_string(item, setting=label)
        if isinstance(target, CronEntry | Mapping):
            return _load_item(target, f"{label} ({item})", command_task)
        if isinstance(target, str | bytes) or not isinstance(target, Iterable):
            raise ConfigurationError(f"{label} = {item!r} is not a list of cron entries")
        found: list[CronEntry] = []
        for index, inner in enumerate(target):
            if isinstance(inner, str):
                problem = f"item {index} is a string, not an entry"
                raise ConfigurationError(f"{label} = {item!r}: {problem}")
            found.extend(_load_item(inner, f"{item}[{index}]", command_task))
        return found
    raise InvalidCronEntry(
        f"{item!r} is not a dictionary, a CronEntry or a dotted path to a list of them",
        entry=label,
    )


def check_unique_names(entries: Sequence[CronEntry]) -> None:
    """Refuse two entries with one name: the name keys each slot's single run.

    Raises:
        InvalidCronEntry: two entries share a name.
    """
    seen: set[str] = set()
    for entry in entries:
        if entry.name in seen:
            raise InvalidCronEntry(
                "two entries have this name; give one of them a different 'name'",
                entry=entry.name,
                field="name",
            )
        seen.add(entry.name)


def entries_from_settings(settings: Settings) -> list[CronEntry]:
    """The entries of ``DQUEUE_CRON``.

    Raises:
        InvalidCronEntry: an entry is malformed.
        ConfigurationError: a dotted path cannot be imported.
    """
    return load_entries(settings.section(CronSettings).CRON, where="DQUEUE_CRON")
