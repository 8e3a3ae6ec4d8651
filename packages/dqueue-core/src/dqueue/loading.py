"""Importing things named by dotted paths, with errors that name the setting at fault."""

from __future__ import annotations

import importlib
from typing import Any

from .errors import ConfigurationError

__all__ = ["import_string", "import_task_modules"]

#: Backends that live in other distributions: dotted prefix -> what to install.
_PROVIDED_BY = {
    "dqueue_redis": "dqueue-redis (pip install dqueue-redis, or dqueue-django[redis])",
    "dqueue.backends.redis": "dqueue-redis (pip install dqueue-redis, or dqueue-django[redis])",
    "dqueue.backends.reliable_redis": (
        "dqueue-redis (pip install dqueue-redis, or dqueue-django[redis])"
    ),
    "dqueue_django": "dqueue-django (pip install dqueue-django)",
    "dqueue_cron": "dqueue-cron (pip install dqueue-cron)",
}


def import_string(path: str, *, setting: str | None = None) -> Any:
    """Import ``package.module.Name`` and return ``Name``.

    Raises:
        ConfigurationError: the path is malformed or cannot be imported; the message names
            ``setting`` and, for a backend from another distribution, the package to install.
    """
    where = f"{setting} = {path!r}" if setting else repr(path)
    module_name, _, attribute = path.rpartition(".")
    if not module_name or not attribute:
        raise ConfigurationError(f"{where}: expected a dotted path such as 'package.module.Name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        for prefix, package in _PROVIDED_BY.items():
            if module_name == prefix or module_name.startswith(prefix + "."):
                raise ConfigurationError(f"{where} needs {package}: {exc}") from exc
        raise ConfigurationError(f"{where} cannot be imported: {exc}") from exc
    try:
        return getattr(module, attribute)
    except AttributeError as exc:
        raise ConfigurationError(f"{where}: module {module_name!r} has no {attribute!r}") from exc


def import_task_modules(modules: list[str] | tuple[str, ...]) -> None:
    """Import the modules that define the user's tasks (``DQUEUE_TASKS``, ``--tasks``).

    Raises:
        ConfigurationError: a module cannot be imported; the message names it.
    """
    for name in modules:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise ConfigurationError(f"task module {name!r} cannot be imported: {exc}") from exc
        except Exception as exc:  # the module itself is broken: say so in one line
            raise ConfigurationError(
                f"task module {name!r} failed to import: {type(exc).__name__}: {exc}"
            ) from exc
