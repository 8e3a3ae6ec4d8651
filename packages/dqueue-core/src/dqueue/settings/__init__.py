"""Settings: every ``DQUEUE_*`` value in one typed, frozen object.

Layers, lowest first: built-in defaults, environment variables, the host framework's settings
(dqueue-django adds Django's), then a ``--config FILE`` python file. A setting missing from a
layer is inherited from the layer below; a value replaces the whole value below it (dicts are
not merged), so a config file can say exactly what it means. Bad values fail here, at start-up,
with a message that names the setting.

The core's own settings are :class:`Settings`' fields; each installed plugin adds a
:class:`SettingsSection` of its own (entry point group ``dqueue.settings``), read with
``get_settings().section(SectionClass)``, and layered the same way under the same names.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .core import Settings
from .layers import environment_layer, file_layer, suggest_name
from .sections import PREFIX, SettingsSection, bad_value

__all__ = [
    "PREFIX",
    "Settings",
    "SettingsSection",
    "bad_value",
    "config_file_applied",
    "configure",
    "environment_layer",
    "file_layer",
    "get_settings",
    "invalidate_settings",
    "reset_settings",
    "suggest_name",
]

# -- the process-wide settings -----------------------------------------------------------------

_lock = threading.RLock()
_current: Settings | None = None
_framework_layer: Callable[[], Mapping[str, Any]] | None = None
_file_layers: list[dict[str, Any]] = []
_overrides: dict[str, Any] = {}


def get_settings() -> Settings:
    """The effective settings of this process, built on first use and cached."""
    global _current
    settings = _current
    if settings is not None:
        return settings
    with _lock:
        if _current is None:
            layers: list[Mapping[str, Any]] = [environment_layer()]
            if _framework_layer is not None:
                layers.append(_framework_layer())
            layers.extend(_file_layers)
            layers.append(_overrides)
            _current = Settings.from_layers(layers)
        return _current


def configure(
    *,
    framework: Callable[[], Mapping[str, Any]] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Settings:
    """Change where settings come from, then rebuild and validate them.

    Args:
        framework: a callable that returns the host framework's ``DQUEUE_*`` values
            (dqueue-django passes one that reads ``django.conf.settings``).
        config_file: a python file whose settings override everything below it.
        **overrides: settings by short name (``WORKERS={"default": 2}``), highest of all.

    Raises:
        ConfigurationError: a value is bad; the message names the setting.
    """
    global _framework_layer, _current
    with _lock:
        if framework is not None:
            _framework_layer = framework
        if config_file is not None:
            _file_layers.append(file_layer(config_file))
        _overrides.update({PREFIX + name.removeprefix(PREFIX): v for name, v in overrides.items()})
        _current = None
        return get_settings()


@contextlib.contextmanager
def config_file_applied(path: str | os.PathLike[str]) -> Iterator[Settings]:
    """Layer a ``--config`` file on top for the block, then take it off again.

    For commands run in a long-lived process (Django's ``call_command``): the process's
    settings are left as they were found.

    Raises:
        ConfigurationError: the file is missing, fails to run, or sets a bad value.
    """
    global _current
    with _lock:
        before = len(_file_layers)
        _file_layers.append(file_layer(path))
        _current = None
    try:
        yield get_settings()
    finally:
        with _lock:
            del _file_layers[before:]
            _current = None


def reset_settings() -> None:
    """Forget every configured layer (for tests): back to defaults plus the environment."""
    global _framework_layer, _current
    with _lock:
        _framework_layer = None
        _file_layers.clear()
        _overrides.clear()
        _current = None


def invalidate_settings() -> None:
    """Rebuild settings on next use, keeping the configured layers (Django's setting_changed)."""
    global _current
    with _lock:
        _current = None
