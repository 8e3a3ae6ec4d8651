"""Fixtures for dqueue-cron's unit tests: clean settings and backends around every test."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.backends.memory import MemoryBackend
from dqueue.clock import ManualClock
from dqueue.settings import Settings
from dqueue.testing import clean_settings

# The test tasks live in `cronapp`, importable by name as a worker would import them.
sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def _clean_dqueue_state() -> Iterator[None]:
    with clean_settings():
        yield


@pytest.fixture
def clock() -> ManualClock:
    # 2026-11-27 00:00:00 UTC, a Friday
    return ManualClock(1_795_737_600.0)


@pytest.fixture
def settings() -> Settings:
    # catch-up is tested on its own; elsewhere a first tick enqueues only what is due
    return Settings().replace(BACKEND="dqueue.backends.memory.MemoryBackend", CRON_CATCH_UP="skip")


@pytest.fixture
def backend(settings: Settings, clock: ManualClock) -> MemoryBackend:
    return MemoryBackend.from_settings(settings, clock=clock)
