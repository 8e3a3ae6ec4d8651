"""Fixtures for dqueue-core's unit tests: clean settings and backends around every test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.clock import ManualClock
from dqueue.enqueueing import set_dispatcher
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
