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
from pathlib import Path
from typing import Any

from .core import Settings
from .layers import environment_layer, file_layer, suggest_name
from .paths import BaseFolder, resolve_paths, user_data_folder
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
_file_paths: list[Path] = []  # beside _file_layers: the last one's folder anchors paths
_framework_folder: Callable[[], str | os.PathLike[str] | None] | None = None
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
            _current = resolve_paths(Settings.from_layers(layers), _base_folder())
        return _current


def _base_folder() -> BaseFolder:
    """What relative paths in the settings are relative to (see :mod:`dqueue.settings.paths`)."""
    if _file_paths:
        config = _file_paths[-1]
        return BaseFolder(config.parent, f"the folder of the --config file {config}")
    project = _framework_folder() if _framework_folder is not None else None
    if project:
        return BaseFolder(Path(project).resolve(), f"the project's folder {project}")
    return BaseFolder(user_data_folder(), "the per-user data folder", create=True)


def configure(
    *,
    framework: Callable[[], Mapping[str, Any]] | None = None,
    framework_folder: Callable[[], str | os.PathLike[str] | None] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Settings:
    """Change where settings come from, then rebuild and validate them.

    Args:
        framework: a callable that returns the host framework's ``DQUEUE_*`` values
            (dqueue-django passes one that reads ``django.conf.settings``).
        framework_folder: a callable that returns the framework project's folder, which
            relative paths are resolved against when no ``--config`` file is given
            (dqueue-django passes Django's ``BASE_DIR``).
        config_file: a python file whose settings override everything below it.
        **overrides: settings by short name (``WORKERS={"default": 2}``), highest of all.

    Raises:
        ConfigurationError: a value is bad; the message names the setting.
    """
    global _framework_layer, _framework_folder, _current
    with _lock:
        if framework is not None:
            _framework_layer = framework
        if framework_folder is not None:
            _framework_folder = framework_folder
        if config_file is not None:
            _file_layers.append(file_layer(config_file))
            _file_paths.append(Path(config_file).resolve())
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
        _file_paths.append(Path(path).resolve())
        _current = None
    try:
        yield get_settings()
    finally:
        with _lock:
            del _file_layers[before:]
            del _file_paths[before:]
            _current = None


def reset_settings() -> None:
    """Forget every configured layer (for tests): back to defaults plus the environment."""
    global _framework_layer, _framework_folder, _current
    with _lock:
        _framework_layer = None
        _framework_folder = None
        _file_layers.clear()
        _file_paths.clear()
        _overrides.clear()
        _current = None


def invalidate_settings() -> None:
    """Rebuild settings on next use, keeping the configured layers (Django's setting_changed)."""
    global _current
    with _lock:
        _current = None
