from __future__ import annotations

import django
import pytest
from django.test import override_settings

from dqueue_django.checks import check_settings


def ids(messages: list) -> list[str]:
    return [message.id for message in messages]


def test_the_test_project_passes_every_check() -> None:
    assert check_settings() == []


def test_a_bad_value_is_an_error_naming_the_setting() -> None:
    with override_settings(DQUEUE_PREFETCH="lots"):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.E001"]
    assert "DQUEUE_PREFETCH" in messages[0].msg
    assert messages[0].obj == "DQUEUE_PREFETCH"


def test_each_bad_value_gets_its_own_error() -> None:
    with override_settings(
        DQUEUE_PREFETCH=0, DQUEUE_WORKERS={"default": -1}, DQUEUE_ATOMIC_JOBS="yes"
    ):
        messages = check_settings()

    assert sorted(message.obj for message in messages) == [
        "DQUEUE_ATOMIC_JOBS",
        "DQUEUE_PREFETCH",
        "DQUEUE_WORKERS",
    ]
    assert set(ids(messages)) == {"dqueue_django.E001"}


def test_an_unknown_dqueue_name_is_a_warning_suggesting_the_real_one() -> None:
    with override_settings(DQUEUE_WORKRES={"default": 2}):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.W001"]
    assert "DQUEUE_WORKERS" in messages[0].hint


def test_a_backend_that_cannot_be_imported_is_an_error() -> None:
    with override_settings(DQUEUE_BACKEND="dqueue.backends.nowhere.NoBackend"):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.E002"]
    assert "DQUEUE_BACKEND" in messages[0].msg


def test_a_backend_override_that_is_not_a_backend_is_an_error() -> None:
    with override_settings(DQUEUE_BACKEND_OVERRIDES={"slow": "collections.OrderedDict"}):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.E002"]
    assert "DQUEUE_BACKEND_OVERRIDES['slow']" in messages[0].msg


def test_middleware_that_cannot_be_imported_is_an_error() -> None:
    with override_settings(DQUEUE_MIDDLEWARE=["myproject.middleware.Missing"]):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.E003"]


def test_an_unknown_cron_time_zone_is_an_error() -> None:
    with override_settings(DQUEUE_CRON_TIMEZONE="Mars/Olympus_Mons"):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.E004"]


def test_a_bad_cron_entry_is_an_error_naming_the_entry_and_field() -> None:
    entry = {"command": "record_tick", "name": "broken", "hours": "25", "minutes": "0"}
    with override_settings(DQUEUE_CRON=[entry]):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.E005"]
    assert "broken" in messages[0].msg
    assert "hours" in messages[0].msg


def test_a_configured_queue_that_nothing_uses_is_a_warning() -> None:
    with override_settings(DQUEUE_WORKERS={"default": 1, "defualt": 2}):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.W002"]
    assert "'defualt'" in messages[0].msg


def test_a_queue_used_by_a_cron_entry_is_not_idle() -> None:
    entry = {"command": "record_tick", "name": "reports", "schedule": "@daily", "queue": "reports"}
    with override_settings(DQUEUE_WORKERS={"default": 1, "reports": 1}, DQUEUE_CRON=[entry]):
        assert check_settings() == []


SLOW_TASK = "dqtest_shop.tasks.record_slowly"  # the test app's task on queue "slow"


def test_a_task_whose_queue_has_no_worker_is_a_warning_naming_both_and_the_setting() -> None:
    with override_settings(DQUEUE_WORKERS={"default": 1, "slow": 0}):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.W006"]
    assert messages[0].obj == SLOW_TASK
    assert f"Task '{SLOW_TASK}'" in messages[0].msg
    assert "queue 'slow'" in messages[0].msg
    assert "DQUEUE_WORKERS ('slow': 1)" in messages[0].hint


@pytest.mark.parametrize(
    "inline",
    [
        {"DQUEUE_BACKEND": "synchronous"},
        {"DQUEUE_BACKEND_OVERRIDES": {"slow": "synchronous"}},
    ],
    ids=["everywhere", "for the queue"],
)
def test_a_task_whose_jobs_run_inline_needs_no_worker(inline: dict[str, object]) -> None:
    workers = {"DQUEUE_WORKERS": {"default": 1, "slow": 0}}
    with override_settings(**workers):
        assert ids(check_settings()) == ["dqueue_django.W006"]
    with override_settings(**workers, **inline):
        assert check_settings() == []


def test_a_task_that_cron_runs_on_a_served_queue_needs_no_worker_on_its_own() -> None:
    def entry(queue: str) -> dict[str, object]:
        return {"task": SLOW_TASK, "args": ["tick"], "schedule": "@daily", "queue": queue}

    with override_settings(DQUEUE_WORKERS={"default": 1, "slow": 0}, DQUEUE_CRON=[entry("slow")]):
        assert [m.obj for m in check_settings()] == [SLOW_TASK, SLOW_TASK]  # task, entry
    with override_settings(
        DQUEUE_WORKERS={"default": 1, "slow": 0}, DQUEUE_CRON=[entry("default")]
    ):
        assert check_settings() == []


def test_a_cron_entry_whose_queue_has_no_worker_is_a_warning_naming_it() -> None:
    entry = {"command": "record_tick", "name": "reports", "schedule": "@daily", "queue": "reports"}
    with override_settings(DQUEUE_WORKERS={"default": 1, "reports": 0}, DQUEUE_CRON=[entry]):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.W006"]
    assert messages[0].obj == "reports"
    assert "Cron entry 'reports'" in messages[0].msg


@pytest.mark.skipif(django.VERSION < (6, 0), reason="Django's Tasks framework needs Django 6.0")
def test_a_queue_of_the_tasks_backend_that_has_no_worker_is_a_warning() -> None:
    with override_settings(DQUEUE_WORKERS={"default": 1, "django-tasks": 0}):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.W006"]
    assert messages[0].obj == "TASKS"
    assert "queue 'django-tasks'" in messages[0].msg


def test_a_django_lightweight_queue_setting_is_a_warning_naming_its_replacement() -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_WORKERS={"default": 1}):
        messages = check_settings()

    assert ids(messages) == ["dqueue_django.W005"]
    assert messages[0].obj == "LIGHTWEIGHT_QUEUE_WORKERS"
    assert "DQUEUE_WORKERS" in messages[0].msg


def test_a_django_lightweight_queue_backend_path_is_told_to_name_a_dqueue_backend() -> None:
    path = "django_lightweight_queue.backends.redis.RedisBackend"
    with override_settings(LIGHTWEIGHT_QUEUE_BACKEND=path):
        [message] = check_settings()

    assert "DQUEUE_BACKEND" in message.hint
    assert "'reliable_redis'" in message.hint


def test_a_django_lightweight_queue_setting_without_replacement_says_there_is_none() -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_SITE_URL="https://example.com"):
        [message] = check_settings()

    assert message.id == "dqueue_django.W005"
    assert "dqueue has no replacement" in message.msg
    assert "debug-web" in message.hint


def test_each_django_lightweight_queue_setting_gets_its_own_warning() -> None:
    with override_settings(LIGHTWEIGHT_QUEUE_REDIS_HOST="redis", LIGHTWEIGHT_QUEUE_REDIS_PORT=1):
        messages = check_settings()

    assert [message.obj for message in messages] == [
        "LIGHTWEIGHT_QUEUE_REDIS_HOST",
        "LIGHTWEIGHT_QUEUE_REDIS_PORT",
    ]


def test_check_deploy_warns_of_a_redis_server_that_may_evict_jobs() -> None:
    from dqueue_django.checks import check_stores
    from tests.support.redis_server import RedisServer, available_kinds

    if not available_kinds():
        pytest.skip("no Redis or Valkey server on this machine")
    evicting = ("--maxmemory", "10mb", "--maxmemory-policy", "allkeys-lru")
    with (
        RedisServer(available_kinds()[0], extra_args=evicting) as server,
        override_settings(DQUEUE_BACKEND="redis", DQUEUE_REDIS_URL=server.url),
    ):
        messages = check_stores()

    assert ids(messages) == ["dqueue_django.W004"]
    assert "maxmemory-policy allkeys-lru" in messages[0].msg


def test_check_deploy_says_nothing_of_a_store_without_risks() -> None:
    from dqueue_django.checks import check_stores

    assert check_stores() == []
