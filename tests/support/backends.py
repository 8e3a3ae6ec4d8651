"""Factories of every backend under test, for the contract suite.

Each factory takes ``(settings, clock, tmp_path)`` and returns a fresh, empty backend that no
other test shares. A backend package adds its factories to ``BACKEND_FACTORIES`` here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

from dqueue.backends.base import Backend
from dqueue.backends.memory import MemoryBackend
from dqueue.backends.sqlite import SQLiteBackend
from dqueue.clock import Clock
from dqueue.settings import Settings

BackendFactory = Callable[[Settings, Clock, Path], Backend]


def memory_backend(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
    return MemoryBackend(settings, clock=clock)


def sqlite_backend(settings: Settings, clock: Clock, tmp_path: Path) -> Backend:
    path = str(tmp_path / "dqueue.sqlite3")
    return SQLiteBackend(dataclasses.replace(settings, SQLITE_PATH=path), clock=clock)


BACKEND_FACTORIES: dict[str, BackendFactory] = {
    "memory": memory_backend,
    "sqlite": sqlite_backend,
}
