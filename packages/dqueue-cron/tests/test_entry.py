"""Entries: building and validating them, the dictionary format, and DQUEUE_CRON."""

from __future__ import annotations

import pytest
from cronapp import tasks as cronapp_tasks

from dqueue.errors import ConfigurationError
from dqueue.settings import Settings
from dqueue_cron import CronEntry, CronExpression, entry_from_dict, load_entries
from dqueue_cron.config import entries_from_settings
from dqueue_cron.errors import InvalidCronEntry, InvalidSchedule


def test_an_entry_parses_its_schedule_and_names_itself_after_its_task():
    entry = CronEntry(schedule="*/5 * * * *", task="cronapp.tasks.cleanup")
    assert entry.name == "cronapp.tasks.cleanup"
    assert isinstance(entry.expression, CronExpression)
    assert entry.expression.minutes == tuple(range(0, 60, 5))


def test_an_entry_accepts_the_task_object_and_keeps_its_name():
    entry = CronEntry(schedule="@daily", task=cronapp_tasks.report, args=["daily"])
    assert entry.task_name == "cronapp.tasks.report"
    assert entry.args == ("daily",)


def test_an_entry_accepts_a_field_dictionary_as_its_schedule():
    entry = CronEntry(schedule={"hours": "3", "minutes": "0"}, task="cronapp.tasks.cleanup")
    assert entry.expression.hours == (3,)


def test_a_bad_schedule_names_the_entry_and_the_field():
    with pytest.raises(InvalidSchedule) as caught:
        CronEntry(name="cleanup", schedule={"hours": 25, "minutes": 0}, task="a.b")
    assert str(caught.value) == "cron entry 'cleanup': field 'hours': 25 is out of range 0-23"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"task": "nodots"}, "field 'task': 'nodots' is not a registered task"),
        ({"task": 42}, "field 'task': 42 is not a registered task"),
        ({"queue": ""}, "field 'queue': '' is not a queue name"),
        ({"timeout": 0}, "field 'timeout': 0 must be more than 0"),
        ({"timeout": "5"}, "field 'timeout': '5' is not a number of seconds"),
        ({"sigkill_on_stop": "yes"}, "field 'sigkill_on_stop': 'yes' is not True or False"),
        ({"prevent_overlap": 1}, "field 'prevent_overlap': 1 is not True or False"),
        ({"enabled": None}, "field 'enabled': None is not True or False"),
        ({"max_attempts": 0}, "field 'max_attempts': 0 is not a whole number of 1 or more"),
        ({"timezone": "Mars/Olympus"}, "field 'timezone': 'Mars/Olympus' is not a known time zone"),
        ({"catch_up": "some"}, "field 'catch_up': 'some' is not one of skip, latest, all"),
        ({"catch_up_window": -1}, "field 'catch_up_window': -1 must be 0 or more seconds"),
        ({"args": "abc"}, "field 'args': 'abc' is not a list"),
        ({"kwargs": [1]}, "field 'kwargs': [1] is not a dictionary"),
        ({"args": [object()]}, "field 'args': argument 0 of a.b is not JSON-serialisable"),
        ({"kwargs": {"when": {1, 2}}}, "field 'args': argument 'when' of a.b is not JSON"),
    ],
)
def test_bad_options_are_refused_naming_the_entry_and_the_option(options, message):
    fields = {"name": "job", "schedule": "@daily", "task": "a.b", **options}
    with pytest.raises(InvalidCronEntry) as caught:
        CronEntry(**fields)
    assert str(caught.value).startswith("cron entry 'job': ")
    assert message in str(caught.value)


def test_entry_errors_are_configuration_errors():
    with pytest.raises(ConfigurationError):
        CronEntry(name="job", schedule="nonsense", task="a.b")


def test_entries_are_frozen():
    entry = CronEntry(schedule="@daily", task="a.b")
    with pytest.raises(AttributeError):
        entry.queue = "other"  # type: ignore[misc]


# -- the dictionary format ---------------------------------------------------------------------


def test_the_seed_dictionary_runs_a_command_through_the_given_command_task():
    entry = entry_from_dict(
        {
            "command": "my_cron_command",
            "days": "*",
            "hours": "*",
            "minutes": "0, 30",
            "sigkill_on_stop": True,
            "queue": "cron",
            "timeout": 60,
            "command_args": ["--verbose"],
            "command_kwargs": {"database": "default"},
        },
        command_task="dqueue_django.tasks.run_command",
    )
    assert entry.name == "my_cron_command"
    assert entry.task_name == "dqueue_django.tasks.run_command"
    assert entry.args == ("my_cron_command", "--verbose")
    assert entry.kwargs == {"database": "default"}
    assert entry.expression.minutes == (0, 30)
    assert entry.sigkill_on_stop is True
    assert entry.timeout == 60.0


def test_a_command_entry_without_a_command_task_points_to_dqueue_django():
    with pytest.raises(InvalidCronEntry, match="needs dqueue-django"):
        entry_from_dict({"command": "clearsessions", "hours": "3"})


def test_a_task_entry_takes_args_and_kwargs_and_every_option():
    entry = entry_from_dict(
        {
            "task": "cronapp.tasks.report",
            "name": "nightly",
            "schedule": "30 2 * * *",
            "args": ["nightly"],
            "kwargs": {"slot": 1},
            "timezone": "Europe/London",
            "catch_up": "all",
            "catch_up_window": 600,
            "prevent_overlap": True,
            "max_attempts": 2,
            "enabled": False,
        }
    )
    assert (entry.name, entry.args, dict(entry.kwargs)) == ("nightly", ("nightly",), {"slot": 1})
    assert (entry.timezone, entry.catch_up, entry.catch_up_window) == ("Europe/London", "all", 600)
    assert (entry.prevent_overlap, entry.max_attempts, entry.enabled) == (True, 2, False)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"task": "a.b", "minute": "5"}, "unknown key(s) 'minute'"),
        ({"minutes": "5"}, "give exactly one of 'task' and 'command'"),
        (
            {"task": "a.b", "command": "x", "minutes": "5"},
            "give exactly one of 'task' and 'command'",
        ),
        (
            {"task": "a.b", "command_args": [1], "minutes": "5"},
            "'command_args' goes with 'command'",
        ),
        ({"command": "x", "args": [1], "minutes": "5"}, "'args' goes with 'task'"),
        ({"command": "", "minutes": "5"}, "'' is not a command name"),
        ({"command": "x", "command_args": "a b", "minutes": "5"}, "'a b' is not a list"),
        (
            {"task": "a.b", "schedule": "@daily", "hours": "3"},
            "give either 'schedule' or the fields",
        ),
        ({"task": "a.b"}, "has no schedule"),
    ],
)
def test_malformed_dictionaries_are_refused_with_the_reason(data, message):
    with pytest.raises(InvalidCronEntry) as caught:
        entry_from_dict(data, command_task="x.run")
    assert message in str(caught.value)


def test_a_dictionary_error_names_the_entry_by_its_position_when_it_has_no_name():
    with pytest.raises(InvalidCronEntry, match=r"^cron entry 'DQUEUE_CRON\[1\]'"):
        load_entries([{"task": "a.b", "hours": "1"}, {"minutes": "5"}])


# -- DQUEUE_CRON -----------------------------------------------------------------------------------


def test_dqueue_cron_mixes_dictionaries_entries_and_dotted_paths():
    settings = Settings().replace(
        CRON=[
            {"task": "cronapp.tasks.report", "name": "hourly-report", "minutes": "0"},
            CronEntry(name="cleanup", schedule="@daily", task="cronapp.tasks.cleanup"),
            "cronapp.schedules.ENTRIES",
            "cronapp.schedules.ONE",
        ]
    )
    names = [entry.name for entry in entries_from_settings(settings)]
    assert names == ["hourly-report", "cleanup", "cronapp.tasks.cleanup", "weekly-report", "single"]


def test_two_entries_with_one_name_are_refused():
    with pytest.raises(InvalidCronEntry, match="two entries have this name"):
        load_entries(
            [
                {"task": "cronapp.tasks.report", "minutes": "0"},
                {"task": "cronapp.tasks.report", "minutes": "30"},
            ]
        )


def test_a_dotted_path_that_does_not_import_names_the_setting():
    with pytest.raises(ConfigurationError, match=r"DQUEUE_CRON\[0\] = 'cronapp.nowhere.X'"):
        load_entries(["cronapp.nowhere.X"])


def test_a_dotted_path_to_something_else_than_entries_is_refused():
    with pytest.raises(ConfigurationError, match="is not a list of cron entries"):
        load_entries(["cronapp.schedules.NOT_A_LIST"])


def test_an_item_that_is_not_an_entry_is_refused():
    with pytest.raises(InvalidCronEntry, match="42 is not a dictionary, a CronEntry"):
        load_entries([42])


def test_dqueue_cron_must_be_a_list():
    with pytest.raises(InvalidCronEntry, match="must be a list of entries"):
        load_entries({"task": "a.b"})  # type: ignore[arg-type]
