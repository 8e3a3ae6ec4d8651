"""What runners ask of dqueue-cron: its service, the queues it feeds, upcoming runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dqueue.settings import Settings
from dqueue_cron import CronEntry, CronScheduler, entries_from_settings
from dqueue_cron.integration import scheduler_service, services_for

ENTRIES = [
    {"task": "cronapp.tasks.cleanup", "schedule": "*/15 * * * *"},
    {"task": "cronapp.tasks.report", "name": "r", "hours": "9", "minutes": "0", "queue": "mail"},
    {"task": "cronapp.tasks.report", "name": "off", "minutes": "0", "queue": "x", "enabled": False},
]


def test_a_pooled_runner_with_entries_gets_one_scheduler():
    (service,) = services_for(Settings().replace(CRON=ENTRIES), exact=False)
    assert isinstance(service, CronScheduler)
    assert [plan.entry.name for plan in service.plans] == ["cronapp.tasks.cleanup", "r"]


def test_an_exactly_configured_runner_runs_no_cron():
    assert services_for(Settings().replace(CRON=ENTRIES), exact=True) == []


def test_no_entries_means_no_scheduler():
    assert services_for(Settings(), exact=False) == []
    assert services_for(Settings().replace(CRON=ENTRIES[2:]), exact=False) == []


def test_explicit_entries_replace_the_configured_ones():
    entry = CronEntry(name="only", schedule="@daily", task="cronapp.tasks.cleanup")
    (service,) = services_for(Settings().replace(CRON=ENTRIES), exact=False, entries=[entry])
    assert isinstance(service, CronScheduler)
    assert [plan.entry.name for plan in service.plans] == ["only"]


def test_the_scheduler_feeds_the_queues_of_enabled_entries_with_the_default():
    settings = Settings().replace(CRON=ENTRIES, CRON_QUEUE="scheduled")
    service = scheduler_service(settings)
    assert isinstance(service, CronScheduler)
    assert service.queues == {"scheduled", "mail"}


def test_the_registered_service_is_none_without_enabled_entries():
    assert scheduler_service(Settings().replace(CRON=ENTRIES[2:])) is None


def test_duplicate_entry_names_are_refused():
    duplicate = {"task": "cronapp.tasks.cleanup", "name": "r", "minutes": "1"}
    with pytest.raises(Exception, match="two entries have this name"):
        entries_from_settings(Settings().replace(CRON=[*ENTRIES, duplicate]))


def test_describe_entries_gives_json_rows_with_each_entry_s_next_run():
    from dqueue_cron import describe_entries

    settings = Settings().replace(CRON=ENTRIES, CRON_TIMEZONE="Europe/London")
    now = datetime(2026, 11, 27, 10, 10, tzinfo=UTC)
    rows = describe_entries(settings, now)
    assert rows[1] == {
        "name": "r",
        "schedule": "minutes='0' hours='9'",
        "task": "cronapp.tasks.report",
        "queue": "mail",
        "timezone": "Europe/London",
        "catch_up": "latest",
        "prevent_overlap": False,
        "enabled": True,
        "next_run": "2026-11-28T09:00:00+00:00",
    }
    assert rows[2]["next_run"] is None
    assert rows[0]["next_run"] == "2026-11-27T10:15:00+00:00"


def test_describe_entries_resolves_each_entry_s_own_zone_and_queue():
    from dqueue_cron import describe_entries

    entries = [CronEntry(name="a", schedule="0 9 * * *", task="a.b", timezone="America/New_York")]
    now = datetime(2026, 11, 27, 10, 10, tzinfo=UTC)
    (row,) = describe_entries(Settings(), now, entries=entries)
    assert (row["queue"], row["timezone"]) == ("cron", "America/New_York")
    assert row["next_run"] == "2026-11-27T09:00:00-05:00"
