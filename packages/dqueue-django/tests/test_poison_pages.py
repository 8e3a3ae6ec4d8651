"""Poison in the store, as the Django front ends show it: the admin queue page and the
``queue_dead`` / ``queue_status`` commands render every dead letter whose payload could not
be decoded, escaped and cut short, with no traceback and no HTTP 500; retrying leaves it dead."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from io import StringIO

import pytest
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import Client
from django.test.utils import setup_test_environment, teardown_test_environment

from dqueue.backends import Backend
from dqueue.job import Job, new_job_id
from dqueue.ops.inspection import RAW_PREVIEW_CHARS
from dqueue_django.admin import MANAGE_PERMISSION
from tests.support.poison import POISON, SECRET, inject, poison_payload

Backends = Callable[[str], Backend]

DEFAULT_URL = "/admin/dqueue/queue/default/"


@pytest.fixture(scope="module", autouse=True)
def _test_environment() -> Iterator[None]:
    setup_test_environment()
    yield
    teardown_test_environment()


@pytest.fixture(autouse=True)
def _no_users() -> Iterator[None]:
    User.objects.all().delete()
    yield
    User.objects.all().delete()


@pytest.fixture
def poisoned(memory_backend: Backends) -> Backend:
    """The default queue, holding one dead letter per kind of poison."""
    backend = memory_backend("default")
    backend.enqueue(Job(id=new_job_id(), task="dqtest_shop.tasks.record", queue="default"))
    for number, kind in enumerate(sorted(POISON)):
        inject(backend, "default", f"p{number}", poison_payload(kind, f"p{number}", "default"))
    taken = backend.reserve("default", worker_id="lister", timeout_s=0, limit=100)
    assert len(taken) == 1
    return backend


def _client(*, can_manage: bool) -> Client:
    user = User.objects.create_user("staff", password="x", is_staff=True)
    if can_manage:
        app_label, codename = MANAGE_PERMISSION.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = Client()
    client.force_login(user)
    return client


def test_the_queue_page_lists_poison_escaped_and_cut_short(poisoned: Backend) -> None:
    response = _client(can_manage=True).get(DEFAULT_URL)

    assert response.status_code == 200
    letters = response.context["letters"]
    assert len(letters) == len(POISON)
    for letter in letters:
        assert letter["raw"].isprintable()
        assert len(letter["raw"]) <= RAW_PREVIEW_CHARS + 40
        assert SECRET not in letter["summary"]
    html = response.content.decode()
    assert "\x1b" not in html
    assert len(html) < 40 * RAW_PREVIEW_CHARS * len(POISON) // 10


def test_view_only_staff_see_no_poison_payload(poisoned: Backend) -> None:
    response = _client(can_manage=False).get(DEFAULT_URL)

    assert response.status_code == 200
    assert SECRET not in response.content.decode()


def test_retry_all_on_the_queue_page_leaves_poison_dead(poisoned: Backend) -> None:
    response = _client(can_manage=True).post(DEFAULT_URL, {"action": "retry_all"}, follow=True)

    assert response.status_code == 200
    assert len(response.context["letters"]) == len(POISON)
    assert poisoned.counts("default").dead == len(POISON)


def _run(*args: str) -> str:
    out, err = StringIO(), StringIO()
    call_command(*args, stdout=out, stderr=err)
    assert "Traceback" not in out.getvalue() + err.getvalue()
    return out.getvalue()


def test_queue_dead_and_queue_status_render_poison(poisoned: Backend) -> None:
    table = _run("queue_dead", "list", "default", "--failure-tracebacks")
    rows = json.loads(_run("queue_dead", "list", "default", "--json"))
    retried = _run("queue_dead", "retry", "default")  # no ids: every letter
    status = _run("queue_status")

    assert table.count("DecodeError") == len(POISON)
    assert SECRET not in table
    assert all(row["raw"].isprintable() for row in rows)
    assert "Requeued 0 dead letter(s)" in retried
    assert "default" in status
    assert poisoned.counts("default").dead == len(POISON)
