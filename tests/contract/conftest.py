"""Fixtures of the backend contract suite: every test runs once per backend factory.

A test gets a fresh, empty backend built by one of ``tests.support.backends.BACKEND_FACTORIES``
(with a :class:`ManualClock` unless it needs real waiting), and must use only the
:class:`~dqueue.backends.base.Backend` API and its capability flags.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dqueue.backends.base import Backend
from dqueue.clock import SYSTEM_CLOCK, Clock, ManualClock
from dqueue.job import Job
from dqueue.settings import Settings
from tests.support.backends import BACKEND_FACTORIES, UNAVAILABLE_BACKENDS

_job_numbers = itertools.count(1)

MakeBackend = Callable[..., Backend]
MakeJob = Callable[..., Job]


def _backend_params() -> list[Any]:
    """Every backend, those this machine can't run marked skipped with the reason."""
    names = sorted({*BACKEND_FACTORIES, *UNAVAILABLE_BACKENDS})
    return [
        pytest.param(name, marks=pytest.mark.skip(reason=UNAVAILABLE_BACKENDS[name]))
        if name in UNAVAILABLE_BACKENDS
        else name
        for name in names
    ]


@pytest.fixture(params=_backend_params())
def backend_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def settings() -> Settings:
    return Settings(LEASE_SECONDS=30.0, POLL_INTERVAL=0.02, DEAD_LETTER_LIMIT=100)


@pytest.fixture
def make_backend(backend_name: str, settings: Settings, tmp_path: Path) -> Iterator[MakeBackend]:
    """Build backends of the parametrized kind (each in its own directory); close them after."""
    built: list[Backend] = []
    numbers = itertools.count()

    def make(*, clock: Clock = SYSTEM_CLOCK, **overrides: Any) -> Backend:
        directory = tmp_path / f"backend-{next(numbers)}"
        directory.mkdir()
        effective = settings.replace(**overrides)
        backend = BACKEND_FACTORIES[backend_name](effective, clock, directory)
        built.append(backend)
        return backend

    yield make
    for backend in built:
        backend.close()


@pytest.fixture
def backend(make_backend: MakeBackend, clock: ManualClock) -> Backend:
    """A fresh backend on a manual clock."""
    return make_backend(clock=clock)


@pytest.fixture
def real_backend(make_backend: MakeBackend) -> Backend:
    """A fresh backend on the real clock, for tests that wait for real."""
    return make_backend()


@pytest.fixture
def make_job(clock: ManualClock) -> MakeJob:
    """Build a job enqueued now on the manual clock; ids sort in creation order."""

    def make(**fields: Any) -> Job:
        values: dict[str, Any] = {
            "id": f"job-{next(_job_numbers):08d}",
            "task": "tests.contract.work",
            "queue": "default",
            "enqueued_at": clock.time(),
        }
        values.update(fields)
        return Job(**values)

    return make
