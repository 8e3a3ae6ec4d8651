"""Settings sections: a plugin declares its settings once, as a frozen dataclass of its own.

A section's fields are the short names of its settings (``REDIS_URL`` is ``DQUEUE_REDIS_URL``)
and their annotations are their types, read by one coercion (:mod:`.values`); checks that span
fields go in :meth:`SettingsSection.validate`. A plugin registers its section with the entry
point group ``dqueue.settings``; the core merges every registered section from the same layers
as its own settings, and never names one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint
from typing import Any

from ..errors import ConfigurationError
from ..loading import load_plugin, plugins
from .values import PREFIX, coerce, setting_types

__all__ = ["SECTIONS_GROUP", "SettingsSection", "registered_sections"]

#: The entry point group of settings sections: ``name = "package.module:SectionClass"``.
SECTIONS_GROUP = "dqueue.settings"


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsSection:
    """Base of a settings section: subclass it as a frozen, kw_only dataclass.

    Every UPPERCASE field is a setting; values are checked against the annotations when the
    section is built, then :meth:`validate` runs.
    """

    def __post_init__(self) -> None:
        for name, hint in setting_types(type(self)).items():
            value = getattr(self, name)
            checked = coerce(name, hint, value)
            if checked is not value:
                object.__setattr__(self, name, checked)
        self.validate()

    def validate(self) -> None:
        """Check values beyond their types (ranges, choices).

        Raises:
            ConfigurationError: a value is bad (build it with :func:`dqueue.settings.bad_value`).
        """

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The short names of this section's settings."""
        return tuple(setting_types(cls))

    def as_dict(self) -> dict[str, Any]:
        """This section's settings as ``{"DQUEUE_NAME": value}``, JSON-ready."""
        out: dict[str, Any] = {}
        for name in setting_types(type(self)):  # a section's own, whatever names() adds
            value = getattr(self, name)
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[PREFIX + name] = value
        return out


def registered_sections() -> tuple[type[SettingsSection], ...]:
    """The settings sections of the installed plugins, in name order.

    Raises:
        ConfigurationError: a plugin's section is not a :class:`SettingsSection`, or declares a
            setting that another section declares too.
    """
    found = plugins(SECTIONS_GROUP)
    return _load_sections(tuple(found[name] for name in sorted(found)))


@cache  # keyed by the entry points, so that forgetting the plugins forgets the sections too
def _load_sections(entries: tuple[EntryPoint, ...]) -> tuple[type[SettingsSection], ...]:
    sections: list[type[SettingsSection]] = []
    owners: dict[str, str] = {}
    for name in (entry.name for entry in entries):
        section = load_plugin(SECTIONS_GROUP, name)
        if not (isinstance(section, type) and issubclass(section, SettingsSection)):
            raise ConfigurationError(f"{SECTIONS_GROUP} plugin {name!r} is not a SettingsSection")
        for setting in section.names():
            if setting in owners:
                raise ConfigurationError(
                    f"{PREFIX}{setting} is declared by settings sections {owners[setting]!r} "
                    f"and {name!r}"
                )
            owners[setting] = name
        sections.append(section)
    return tuple(sections)
