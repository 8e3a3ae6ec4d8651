"""Fixtures for dqueue-core's unit tests: clean settings and backends around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dqueue.clock import ManualClock
from dqueue.enqueueing import set_dispatcher
from dqueue.testing import clean_settings


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
