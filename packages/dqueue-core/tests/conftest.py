"""Fixtures for dqueue-core's unit tests: clean settings and backends around every test."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dqueue.backends.sqlite import SQLiteBackend
from dqueue.clock import ManualClock
from dqueue.enqueueing import set_dispatcher
from dqueue.settings import Settings
from dqueue.testing import clean_settings

# The shared test support lives in the repository's root ``tests`` package; pytest's importlib
# mode doesn't put the root on sys.path when only this package's tests are collected.
_ROOT = str(Path(__file__).resolve().parents[3])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)


@pytest.fixture(autouse=True)
def _clean_dqueue_state() -> Iterator[None]:
    """Each test starts from defaults: no DQUEUE_* from the environment, no cached backend."""
    set_dispatcher(None)
    with clean_settings():
        yield
    set_dispatcher(None)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    """The test's SQLite file (created when a backend opens it)."""
    return tmp_path / "queue.sqlite3"


@pytest.fixture
def open_backend(database: Path, clock: ManualClock) -> Iterator[Callable[..., SQLiteBackend]]:
    """Open backends on ``database`` (on the manual clock unless told); close them after."""
    opened: list[SQLiteBackend] = []

    def open_(path: Path | None = None, **kwargs: Any) -> SQLiteBackend:
        kwargs.setdefault("clock", clock)
        backend = SQLiteBackend.from_settings(Settings(SQLITE_PATH=str(path or database)), **kwargs)
        opened.append(backend)
        return backend

    yield open_
    for backend in opened:
        backend.close()
