"""Backends: where jobs wait. ``get_backend(queue)`` returns the one configured for a queue."""

from __future__ import annotations

import threading

from ..clock import SYSTEM_CLOCK, Clock
from ..errors import ConfigurationError
from ..loading import import_string
from ..settings import Settings, get_settings
from .base import Backend, DeadLetter, JobResult, JobStatus, Outcome, OutcomeKind, QueueCounts

__all__ = [
    "Backend",
    "DeadLetter",
    "JobResult",
    "JobStatus",
    "Outcome",
    "OutcomeKind",
    "QueueCounts",
    "close_backends",
    "get_backend",
    "load_backend",
]

_lock = threading.Lock()
_instances: dict[tuple[str, int], Backend] = {}


def load_backend(path: str, settings: Settings, *, clock: Clock = SYSTEM_CLOCK) -> Backend:
    """Build a new backend from its dotted path.

    Raises:
        ConfigurationError: the path does not name a Backend subclass, or its package is not
            installed (the message says which to install).
    """
    setting = "DQUEUE_BACKEND" if path == settings.BACKEND else "DQUEUE_BACKEND_OVERRIDES"
    cls = import_string(path, setting=setting)
    if not (isinstance(cls, type) and issubclass(cls, Backend)):
        raise ConfigurationError(f"{setting} = {path!r} is not a dqueue Backend class")
    return cls(settings, clock=clock)


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


def forget_backends() -> None:
    """Drop cached backends without closing them: a forked child must not share connections."""
    with _lock:
        _instances.clear()
