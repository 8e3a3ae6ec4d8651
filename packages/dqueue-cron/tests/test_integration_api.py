"""What runners ask of dqueue-cron: services, queues, entry sources, upcoming runs."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from dqueue.settings import Settings
from dqueue_cron import CronEntry, CronScheduler, next_runs
from dqueue_cron.integration import (
    add_entry_source,
    configured_entries,
    cron_queues,
    remove_entry_source,
    services_for,
)

ENTRIES = [
    {"task": "cronapp.tasks.cleanup", "schedule": "*/15 * * * *"},
    {"task": "cronapp.tasks.report", "name": "r", "hours": "9", "minutes": "0", "queue": "mail"},
    {"task": "cronapp.tasks.report", "name": "off", "minutes": "0", "queue": "x", "enabled": False},
]


def test_a_pooled_runner_with_entries_gets_one_scheduler():
    (service,) = services_for(Settings().replace(CRON=ENTRIES), exact=False)
    assert isinstance(service, CronScheduler)
    assert [plan.name for plan in service.plans] == ["cronapp.tasks.cleanup", "r"]


def test_an_exactly_configured_runner_runs_no_cron():
    assert services_for(Settings().replace(CRON=ENTRIES), exact=True) == []


def test_no_entries_means_no_scheduler():
    assert services_for(Settings(), exact=False) == []
    assert services_for(Settings().replace(CRON=ENTRIES[2:]), exact=False) == []


def test_explicit_entries_replace_the_configured_ones():
    entry = CronEntry(name="only", schedule="@daily", task="cronapp.tasks.cleanup")
    (service,) = services_for(Settings().replace(CRON=ENTRIES), exact=False, entries=[entry])
    assert isinstance(service, CronScheduler)
    assert [plan.name for plan in service.plans] == ["only"]


def test_cron_queues_are_the_queues_of_enabled_entries_with_the_default():
    settings = Settings().replace(CRON=ENTRIES, CRON_QUEUE="scheduled")
    assert cron_queues(settings) == {"scheduled", "mail"}


def test_an_entry_source_adds_entries_and_duplicate_names_are_refused():
    def source(settings: Settings) -> list[CronEntry]:
        return [CronEntry(name="extra", schedule="@hourly", task="cronapp.tasks.cleanup")]

    add_entry_source(source)
    try:
        names = [entry.name for entry in configured_entries(Settings().replace(CRON=ENTRIES))]
        assert names == ["cronapp.tasks.cleanup", "r", "off", "extra"]
        duplicate = {"task": "cronapp.tasks.cleanup", "name": "extra", "minutes": "1"}
        with pytest.raises(Exception, match="two entries have this name"):
            configured_entries(Settings().replace(CRON=[duplicate]))
    finally:
        remove_entry_source(source)


def test_next_runs_lists_each_entry_with_its_queue_zone_and_next_times():
    entries = [
        CronEntry(name="a", schedule="0 9 * * *", task="a.b", timezone="Europe/London"),
        CronEntry(name="b", schedule="*/30 * * * *", task="a.b", queue="q"),
        CronEntry(name="c", schedule="@daily", task="a.b", enabled=False),
    ]
    now = datetime(2026, 11, 27, 10, 10, tzinfo=UTC)
    a, b, c = next_runs(entries, now, 2, settings=Settings())
    assert (a.queue, a.timezone) == ("cron", "Europe/London")
    assert [t.isoformat() for t in a.times] == [
        "2026-11-28T09:00:00+00:00",
        "2026-11-29T09:00:00+00:00",
    ]
    assert (b.queue, [t.isoformat() for t in b.times]) == (
        "q",
        ["2026-11-27T10:30:00+00:00", "2026-11-27T11:00:00+00:00"],
    )
    assert c.times == ()


def test_the_package_exposes_what_the_core_cli_calls():
    import dqueue_cron

    assert dqueue_cron.services_for is services_for
    assert dqueue_cron.cron_queues is cron_queues


def test_describe_entries_gives_json_rows_and_a_readable_listing():
    from dqueue_cron import describe_entries, render_entries

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
    text = render_entries(rows)
    assert text.splitlines()[0] == "Cron entries:"
    assert " * cronapp.tasks.cleanup: */15 * * * * (Europe/London) -> cronapp.tasks.cleanup" in text
    assert "next 2026-11-27T10:15:00+00:00" in text
    assert (
        " * off: minutes='0' (Europe/London) -> cronapp.tasks.report on queue x, catch-up " in text
    )
    assert text.endswith("; disabled")
