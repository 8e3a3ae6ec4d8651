"""The outbox in the settings, the system checks, ``queue_status`` and ``queue_runner``."""

from __future__ import annotations

import json
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import override_settings
from dqtest_shop.tasks import record

from dqueue.errors import ConfigurationError
from dqueue.settings import Settings
from dqueue_django.checks import check_settings
from dqueue_django.conf import DjangoSettings
from dqueue_django.models import OutboxJob

DOWN = "dqtest_shop.backends.DownBackend"


@pytest.fixture(autouse=True)
def _empty_outbox() -> Iterator[None]:
    OutboxJob.objects.all().delete()
    with override_settings(DQUEUE_BACKEND="dqueue.backends.memory.MemoryBackend"):
        yield
    OutboxJob.objects.all().delete()


def status(*args: str) -> str:
    out = StringIO()
    call_command("queue_status", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def leave_rows(count: int, queue: str = "default") -> None:
    """Commit ``count`` enqueues while the store is down: they stay in the outbox."""
    with override_settings(DQUEUE_BACKEND=DOWN), transaction.atomic():
        for n in range(count):
            record.using(queue=queue).enqueue("backlog", str(n))


def test_the_outbox_is_off_by_default() -> None:
    assert Settings().section(DjangoSettings).OUTBOX is False
    assert Settings().section(DjangoSettings).OUTBOX_DATABASE == "default"


def test_a_non_boolean_outbox_setting_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_OUTBOX must be True or False"):
        Settings().replace(OUTBOX="yes")


def test_an_empty_outbox_database_is_refused_by_name() -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_OUTBOX_DATABASE"):
        Settings().replace(OUTBOX_DATABASE="")


@override_settings(DQUEUE_OUTBOX=True, DQUEUE_OUTBOX_DATABASE="nowhere")
def test_the_check_refuses_an_outbox_database_that_is_not_configured() -> None:
    assert [message.id for message in check_settings()] == ["dqueue_django.E006"]


@override_settings(DQUEUE_OUTBOX=True, DQUEUE_OUTBOX_DATABASE="other")
def test_the_check_warns_when_the_outbox_table_is_not_migrated() -> None:
    [message] = check_settings()

    assert message.id == "dqueue_django.W003"
    assert "migrate dqueue_django --database=other" in (message.hint or "")


@override_settings(DQUEUE_OUTBOX=True)
def test_the_check_is_quiet_when_the_outbox_table_exists() -> None:
    assert check_settings() == []


@override_settings(DQUEUE_OUTBOX=True)
def test_status_prints_the_outbox_backlog() -> None:
    leave_rows(2)

    assert "outbox: 2 job(s) waiting to be relayed" in status()


@override_settings(DQUEUE_OUTBOX=True)
def test_status_says_when_the_outbox_is_empty() -> None:
    assert "outbox: empty" in status()


@override_settings(DQUEUE_OUTBOX=True)
def test_status_json_gives_each_queue_its_outbox_backlog() -> None:
    leave_rows(2)
    leave_rows(1, queue="slow")

    rows = {row["queue"]: row for row in json.loads(status("--json"))}

    assert rows["default"]["outbox_waiting"] == 2
    assert rows["default"]["outbox_oldest_age_s"] >= 0
    assert rows["slow"]["outbox_waiting"] == 1


def test_status_without_the_outbox_says_nothing_of_it() -> None:
    assert "outbox" not in status()
    assert "outbox_waiting" not in json.loads(status("--json"))[0]


@override_settings(DQUEUE_OUTBOX=True, DQUEUE_OUTBOX_DATABASE="other")
def test_status_with_an_unmigrated_outbox_is_one_clear_error() -> None:
    with pytest.raises(CommandError, match="migrate dqueue_django"):
        status()
