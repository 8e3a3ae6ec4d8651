"""dqueue-django's tests run inside the test project of ``tests/django_project``."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

# The test project lives at the repository root (tests/django_project), beside the
# integration tests that run it as subprocesses.
_ROOT = Path(__file__).resolve().parents[3]
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from django.test import Client, override_settings  # noqa: E402

from dqueue.backends import Backend, get_backend  # noqa: E402
from tests.django_project import harness  # noqa: E402

harness.ensure_django()

from tests.django_project.admin_clients import login  # noqa: E402


@pytest.fixture(autouse=True)
def _dqueue_django_state() -> Iterator[None]:
    with harness.dqueue_django_state():
        yield


@pytest.fixture
def workdir() -> Path:
    """The session's folder (the Django database lives there)."""
    return harness.ensure_django()


@pytest.fixture
def memory_backend() -> Iterator[Callable[[str], Backend]]:
    """Use the in-process memory backend; yields ``backend(queue)``."""
    with override_settings(DQUEUE_BACKEND="dqueue.backends.memory.MemoryBackend"):
        yield lambda queue="default": get_backend(queue)


@pytest.fixture
def manager() -> Client:
    """A staff user with the manage permission (not a superuser), logged in."""
    return login("manager", can_manage=True)


@pytest.fixture
def viewer() -> Client:
    """A staff user without the permission, logged in: may look, not act."""
    return login("viewer")


def waiting(queue: str = "default") -> int:
    """Jobs waiting in ``queue`` of the current backend."""
    return get_backend(queue).length(queue)
