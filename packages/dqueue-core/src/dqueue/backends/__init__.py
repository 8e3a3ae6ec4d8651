"""Backends: where jobs wait. ``get_backend(queue)`` returns the one configured for a queue.

``DQUEUE_BACKEND`` is a backend's registered name (entry point group ``dqueue.backends``:
``sqlite``, ``memory``, ``synchronous`` and those of installed plugins; a plugin may also
register a dotted path of old, so that it keeps working) or the dotted path of a class.
"""

from __future__ import annotations

import threading

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ConfigurationError
from ..loading import BACKENDS_GROUP, import_string, load_plugin, plugins
from ..settings import Settings, get_settings
from .base import Backend

__all__ = ["Backend", "backend_class", "close_backends", "get_backend", "load_backend"]

_lock = threading.Lock()
_instances: dict[tuple[str, int], Backend] = {}


def backend_class(path: str, *, setting: str = "DQUEUE_BACKEND") -> type[Backend]:
    """The backend class that ``path`` (a registered name or a dotted path) names.

    Raises:
        ConfigurationError: ``path`` names no Backend class, or cannot be imported (the message
            lists the installed backends).
    """
    registered = plugins(BACKENDS_GROUP)
    if path in registered:
        cls = load_plugin(BACKENDS_GROUP, path)
    else:
        names = ", ".join(sorted(name for name in registered if "." not in name))
        missing = (
            f"; no installed plugin provides it (installed backends: {names}): install the "
            "distribution that provides it"
        )
        cls = import_string(path, setting=setting, missing=missing)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"{setting} = {path!r} is not a dqueue Backend class")
    return cls


def load_backend(path: str, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Backend:
    """Build a new backend from its registered name or dotted path.

    Raises:
        ConfigurationError: the path does not name a Backend subclass, or cannot be imported.
    """
    setting = "DQUEUE_BACKEND" if path == settings.BACKEND else "DQUEUE_BACKEND_OVERRIDES"
    return backend_class(path, setting=setting).from_settings(settings, clock=clock)


def get_backend(queue: str = "default", *, settings: Settings | None = None) -> Backend:
    """The backend serving ``queue``: one instance per dotted path (and settings) per process."""
    effective = settings or get_settings()
    path = effective.backend_path(queue)
    key = (path, id(effective))
    backend = _instances.get(key)
    if backend is not None:
        return backend
    with _lock:
        backend = _instances.get(key)
        if backend is None:
            stale = [k for k in _instances if k[0] == path]
            for old in stale:
                _instances.pop(old).close()
            backend = load_backend(path, effective)
            _instances[key] = backend
        return backend


def close_backends() -> None:
    """Close every cached backend (at exit, in tests, after fork)."""
    with _lock:
        for backend in _instances.values():
            backend.close()
        _instances.clear()
