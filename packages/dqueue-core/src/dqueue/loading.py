"""Importing things named by dotted paths, and finding what installed plugins register.

Plugins register themselves through entry points (:mod:`importlib.metadata`); the core names
none of them. The groups: ``dqueue.settings`` (settings sections), ``dqueue.backends``
(backends by short name), ``dqueue.services`` (services a runner hosts), ``dqueue.cli``
(subcommands) and ``dqueue.task_options`` (extra ``@task`` keywords).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from functools import cache
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType, ModuleType
from typing import Any

from .errors import ConfigurationError

__all__ = [
    "BACKENDS_GROUP",
    "TASKS_GROUP",
    "import_module",
    "import_string",
    "import_task_modules",
    "load_plugin",
    "plugins",
]

#: Backends by name: ``sqlite = "dqueue.backends.sqlite:SQLiteBackend"``.
BACKENDS_GROUP = "dqueue.backends"
#: The entry point group of plugins' own task modules (``name = "package.tasks"``): every
#: worker imports them at start, as it imports ``DQUEUE_TASKS``.
TASKS_GROUP = "dqueue.tasks"


@cache
def plugins(group: str) -> Mapping[str, EntryPoint]:
    """The installed entry points of ``group`` by name (cached: ``plugins.cache_clear()``)."""
    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=group):
        found.setdefault(entry.name, entry)  # the same distribution twice on sys.path
    return MappingProxyType(found)


def load_plugin(group: str, name: str) -> Any:
    """The object that entry point ``name`` of ``group`` names.

    Raises:
        ConfigurationError: the plugin is installed but fails to import; the message names its
            distribution.
    """
    entry = plugins(group)[name]
    try:
        return entry.load()
    except Exception as exc:  # a broken plugin: one line that says which
        owner = entry.dist.name if entry.dist is not None else "an installed distribution"
        raise ConfigurationError(
            f"{group} plugin {name!r} of {owner} ({entry.value}) cannot be loaded: "
            f"{type(exc).__name__}: {exc}"
        ) from exc


def import_string(path: str, *, setting: str | None = None, missing: str = "") -> Any:
    """Import ``package.module.Name`` and return ``Name``; ``missing`` as in :func:`import_module`.

    Raises:
        ConfigurationError: the path is malformed or cannot be imported (naming ``setting``).
    """
    where = f"{setting} = {path!r}" if setting else repr(path)
    module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ConfigurationError(f"{where}: expected a dotted path such as 'package.module.Name'")
    module = import_module(module_name, where, missing)
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ConfigurationError(f"{where}: module {module_name!r} has no {attribute!r}") from exc


def import_module(name: str, what: str, missing: str = "") -> ModuleType:
    """Import module ``name``; failing, raise a :class:`ConfigurationError` naming ``what``.

    ``missing`` is added to the message when the module is not found (what to install).
    """
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise ConfigurationError(f"{what} cannot be imported: {exc}{missing}") from exc
    except Exception as exc:  # the module itself is broken: say so in one line
        raise ConfigurationError(f"{what} failed to import: {type(exc).__name__}: {exc}") from exc


def import_task_modules(modules: list[str] | tuple[str, ...]) -> None:
    """Import the modules that define the user's tasks (``DQUEUE_TASKS``, ``--tasks``).

    Raises:
        ConfigurationError: a module cannot be imported; the message names it.
    """
    for name in modules:
        import_module(name, f"task module {name!r}")


def import_plugin_tasks() -> None:
    """Import plugins' task modules (``dqueue.tasks``): a worker knows only the tasks of start.

    Raises:
        ConfigurationError: a plugin's task module fails to import.
    """
    for name in plugins(TASKS_GROUP):
        load_plugin(TASKS_GROUP, name)
