"""One coercion for every setting: the annotation of its field says what a value must be.

Settings classes (the core's and each plugin's section) declare a setting once, as an annotated
dataclass field; this module reads the annotations and turns a layer's raw value into that type,
or fails with a message that names the setting and, for an environment variable, says so.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from ..errors import ConfigurationError

__all__ = ["PREFIX", "bad_value", "coerce", "parse_environment", "setting_types"]

PREFIX: Final = "DQUEUE_"

#: How a yes/no environment variable may be written, as shells and container files do.
_ENVIRONMENT_BOOLS: Final = dict.fromkeys(("true", "1", "yes", "on"), True) | dict.fromkeys(
    ("false", "0", "no", "off"), False
)

_NOUNS: Final[dict[Any, str]] = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "True or False",
}


class EnvironmentText(str):
    """An environment value that is not JSON, kept as text (right for string settings)."""

    json_error = ""


_types: dict[type, dict[str, Any]] = {}


def setting_types(cls: type) -> dict[str, Any]:
    """The evaluated annotation of each setting (each UPPERCASE field) of a settings class."""
    found = _types.get(cls)
    if found is None:
        hints = typing.get_type_hints(cls)
        found = _types[cls] = {name: hint for name, hint in hints.items() if name.isupper()}
    return found


def _unwrap_optional(hint: Any) -> tuple[Any, bool]:
    """``(X, True)`` for ``X | None``, else ``(hint, False)``."""
    args = typing.get_args(hint)
    is_union = isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union
    if is_union and len(args) == 2 and type(None) in args:
        return next(arg for arg in args if arg is not type(None)), True
    return hint, False


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


def _is_a(kind: Any, value: Any) -> bool:
    if kind is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if kind is int:
        return isinstance(value, int) and not isinstance(value, bool)
    return kind is Any or isinstance(value, kind)


def coerce(name: str, hint: Any, value: Any) -> Any:
    """``value`` as the type ``hint`` of setting ``name``: floats from ints, tuples, frozen dicts.

    Raises:
        ConfigurationError: the value has the wrong type; the message names the setting.
    """
    kind, optional = _unwrap_optional(hint)
    if value is None and optional:
        return None
    origin = typing.get_origin(kind)
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
    if kind not in _NOUNS:
        raise TypeError(f"setting {name}: dqueue cannot read values of type {hint!r}")
    if not _is_a(kind, value):
        raise bad_value(name, _NOUNS[kind], value)
    return float(value) if kind is float else value


def parse_environment(hint: Any, raw: str) -> Any:
    """An environment variable's text as a value for a setting of type ``hint``.

    JSON when it parses (``{"default": 2}``, ``8``), text otherwise; ``none``/``null`` for an
    optional setting; yes/no words for a yes/no setting; commas for a list of strings.
    """
    kind, optional = _unwrap_optional(hint)
    word = raw.strip().lower()
    if optional and word in ("none", "null"):
        return None
    if kind is bool and word in _ENVIRONMENT_BOOLS:
        return _ENVIRONMENT_BOOLS[word]
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
