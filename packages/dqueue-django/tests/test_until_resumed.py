"""The Django commands and pages agree with dqueue's: a pause "until resumed", dead letters."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import Client

from dqueue.backends import Backend

Backends = Callable[[str], Backend]


def _run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_pause_without_an_end_shows_until_resumed_in_status_and_the_admin(
    memory_backend: Backends,
) -> None:
    assert "until resumed" in _run("queue_pause", "default")
    status = _run("queue_status", "default")
    assert "until resumed" in status
    assert not re.search(r"2[1-9]\d\d-", status)
    [row] = json.loads(_run("queue_status", "default", "--json"))
    assert row["paused_indefinitely"] is True
    staff = User.objects.create_superuser("until-resumed", password="x")
    try:
        client = Client()
        client.force_login(staff)
        page = client.get("/admin/dqueue/queue/default/").content.decode()
    finally:
        staff.delete()
    assert "until resumed" in page
    assert not re.search(r"2[1-9]\d\d-", page)


def test_a_timed_pause_shows_its_end(memory_backend: Backends) -> None:
    _run("queue_pause", "default", "--for", "1h30m")
    [row] = json.loads(_run("queue_status", "default", "--json"))
    assert row["paused_indefinitely"] is False
    assert "until resumed" not in _run("queue_status", "default")


def test_queue_dead_list_takes_no_job_id_and_says_so_when_given_one(
    memory_backend: Backends,
) -> None:
    assert "No dead letters." in _run("queue_dead", "list", "default")
    with pytest.raises(CommandError, match="queue_dead list takes a queue and no job ids"):
        _run("queue_dead", "list", "default", "0123abcd")
