"""Settings sections, and the one coercion that reads every setting's type from its annotation.

A section is a frozen dataclass whose UPPERCASE fields are the short names of its settings
(``EXAMPLE_URL`` is ``DQUEUE_EXAMPLE_URL``) and whose annotations are their types; checks that span
fields go in :meth:`SettingsSection.validate`. A plugin registers its section with the entry
point group ``dqueue.settings``; the core layers every registered section like its own
settings, and never names one.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib.metadata import EntryPoint
from types import MappingProxyType
from typing import Any, Final

from ..errors import ConfigurationError
from ..loading import load_plugin, plugins

__all__ = [
    "PREFIX",
    "SECTIONS_GROUP",
    "SettingsSection",
    "bad_value",
    "parse_environment",
    "registered_sections",
    "setting_types",
]

PREFIX: Final = "DQUEUE_"
SECTIONS_GROUP: Final = "dqueue.settings"

_NOUNS: Final[dict[Any, str]] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "True or False",
}
#: How a yes/no environment variable may be written, as shells and container files do.
_WORDS: Final = dict.fromkeys(("true", "1", "yes", "on"), True) | dict.fromkeys(
    ("false", "0", "no", "off"), False
)
_types: dict[type, dict[str, Any]] = {}


class EnvironmentText(str):
    """An environment value that is not JSON, kept as text (right for string settings)."""

    json_error = ""


def setting_types(cls: type) -> dict[str, Any]:
    """The evaluated annotation of each setting (each UPPERCASE field) of a settings class."""
    if cls not in _types:
        hints = typing.get_type_hints(cls)
        _types[cls] = {name: hint for name, hint in hints.items() if name.isupper()}
    return _types[cls]


def bad_value(name: str, expected: str, value: Any) -> ConfigurationError:
    """The error for setting ``name`` (short name) whose ``value`` is not ``expected``."""
    message = f"{PREFIX}{name} must be {expected}, not {value!r}"
    if isinstance(value, EnvironmentText):
        # Say where the value came from, and for JSON-only values why it was read as text.
        detail = f": not valid JSON ({value.json_error})" if value.json_error else ""
        if expected == _NOUNS[bool]:
            detail = ": write true or false"
        message += f" (environment variable {PREFIX}{name}{detail})"
    return ConfigurationError(message)


def _optional(hint: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(hint, False)``."""
    args = typing.get_args(hint)
    if isinstance(hint, types.UnionType) and len(args) == 2 and type(None) in args:
        return args[0] if args[1] is type(None) else args[1], True
    return hint, False


def _is_a(kind: Any, value: Any) -> bool:
    if kind in (int, float) and isinstance(value, bool):
        return False
    return kind is Any or isinstance(value, int | float if kind is float else kind)


def _coerce(name: str, hint: Any, value: Any) -> Any:
    """``value`` as setting ``name``'s type ``hint``: floats from ints, tuples, frozen dicts."""
    kind, optional = _optional(hint)
    origin = typing.get_origin(kind)
    if value is None and optional:
        return None
    if origin is tuple:
        item = typing.get_args(kind)[0]
        expected = "a list of strings" if item is str else "a list"
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise bad_value(name, expected, value)
        if not all(_is_a(item, member) for member in value):
            raise bad_value(name, expected, value)
        return tuple(value)
    if origin is Mapping:
        key_kind, item_kind = typing.get_args(kind)
        if not isinstance(value, Mapping):
            raise bad_value(name, "a dictionary", value)
        for key, item in value.items():
            if not _is_a(key_kind, key) or not key:
                raise ConfigurationError(f"{PREFIX}{name} has a key {key!r}: keys are strings")
            if not _is_a(item_kind, item):
                raise bad_value(f"{name}[{key!r}]", _NOUNS[item_kind], item)
        return MappingProxyType(dict(value))
    if not _is_a(kind, value):
        raise bad_value(name, _NOUNS[kind], value)
    return float(value) if kind is float else value


def parse_environment(hint: Any, raw: str) -> Any:
    """An environment variable's text as a value for a setting of type ``hint``.

    JSON when it parses (``{"default": 2}``, ``8``), text otherwise; ``none``/``null`` for an
    optional setting; yes/no words for a yes/no setting; commas for a list of strings.
    """
    kind, optional = _optional(hint)
    word = raw.strip().lower()
    if optional and word in ("none", "null"):
        return None
    if kind is bool and word in _WORDS:
        return _WORDS[word]
    if kind is str:
        return raw
    try:
        value = json.loads(raw)
    except ValueError as exc:
        value = EnvironmentText(raw)
        if typing.get_origin(kind) in (tuple, Mapping):
            value.json_error = str(exc)
    if kind == tuple[str, ...] and isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class SettingsSection:
    """Base of a settings section: subclass it as a frozen, kw_only dataclass.

    Every UPPERCASE field is a setting (``str``, ``int``, ``float``, ``bool``, each optionally
    ``| None``, ``tuple[str, ...]``, ``tuple[Any, ...]``, ``Mapping[str, int]`` or
    ``Mapping[str, str]``); values are checked against the annotations, then :meth:`validate`
    runs.
    """

    def __post_init__(self) -> None:
        for name, hint in setting_types(type(self)).items():
            value = getattr(self, name)
            checked = _coerce(name, hint, value)
            if checked is not value:
                object.__setattr__(self, name, checked)
        self.validate()

    def validate(self) -> None:
        """Check values beyond their types (ranges, choices).

        Raises:
            ConfigurationError: a value is bad (build it with :func:`bad_value`).
        """

    @classmethod
    def unread_settings_warning(cls) -> str | None:
        """A sentence when ``DQUEUE_*`` settings meant for this plugin are not being read.

        Such as settings in a framework's configuration while the plugin's integration is not
        set up. Logged once, at a process's first enqueue; ``None`` (the default) says nothing.
        """
        return None

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The short names of this section's settings."""
        return tuple(setting_types(cls))

    def as_dict(self) -> dict[str, Any]:
        """This section's settings as ``{"DQUEUE_NAME": value}``, JSON-ready."""
        out: dict[str, Any] = {}
        for name in setting_types(type(self)):  # a section's own, whatever names() adds
            value = getattr(self, name)
            if isinstance(value, Mapping | tuple):
                value = dict(value) if isinstance(value, Mapping) else list(value)
            out[PREFIX + name] = value
        return out


def registered_sections() -> tuple[type[SettingsSection], ...]:
    """The settings sections of the installed plugins, in name order.

    Raises:
        ConfigurationError: a plugin's section is not a :class:`SettingsSection`.
    """
    found = plugins(SECTIONS_GROUP)
    return _load_sections(tuple(found[name] for name in sorted(found)))


@cache  # keyed by the entry points, so that forgetting the plugins forgets the sections too
def _load_sections(entries: tuple[EntryPoint, ...]) -> tuple[type[SettingsSection], ...]:
    sections = tuple(load_plugin(SECTIONS_GROUP, entry.name) for entry in entries)
    for entry, section in zip(entries, sections, strict=True):
        if not (isinstance(section, type) and issubclass(section, SettingsSection)):
            raise ConfigurationError(f"{SECTIONS_GROUP} plugin {entry.name!r} is no section")
    return sections
