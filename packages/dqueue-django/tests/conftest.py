"""dqueue-django's tests run inside the test project of ``tests/django_project``."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# The test project lives at the repository root (tests/django_project), beside the
# integration tests that run it as subprocesses.
_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from tests.django_project import harness  # noqa: E402

harness.ensure_django()


@pytest.fixture(autouse=True)
def _dqueue_django_state() -> Iterator[None]:
    with harness.dqueue_django_state():
        yield


@pytest.fixture
def workdir() -> Path:
    """The session's folder (the Django database lives there)."""
    return harness.ensure_django()
