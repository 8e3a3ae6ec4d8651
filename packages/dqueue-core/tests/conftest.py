"""Fixtures for dqueue-core's unit tests: clean settings and backends around every test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from dqueue.backends import close_backends
from dqueue.clock import ManualClock
from dqueue.enqueueing import set_dispatcher
from dqueue.settings import reset_settings


@pytest.fixture(autouse=True)
def _clean_dqueue_state(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Each test starts from defaults: no DQUEUE_* from the environment, no cached backend."""
    import os

    for name in list(os.environ):
        if name.startswith("DQUEUE_"):
            monkeypatch.delenv(name)
    reset_settings()
    close_backends()
    set_dispatcher(None)
    yield
    reset_settings()
    close_backends()
    set_dispatcher(None)


@pytest.fixture
def clock() -> ManualClock:
    """A clock that moves only when the test says so."""
    return ManualClock()
