from __future__ import annotations

import sys
from pathlib import Path

import pytest
from django.test import override_settings

from dqueue.errors import UsageError
from dqueue.ops import PlanOptions
from dqueue.pool import WorkerSlot
from dqueue.settings import get_settings
from dqueue_django.queues import manage_command, plan, worker_command

CRON_ENTRY = {"command": "record_tick", "name": "nightly", "schedule": "@daily", "queue": "cron"}


def test_workers_are_started_as_queue_worker_with_the_runner_s_config(tmp_path: Path) -> None:
    special = tmp_path / "special.py"

    command = worker_command(config=str(special), touch_file="/tmp/%s.ok", base=["manage"])

    assert command(WorkerSlot("mail", 2)) == [
        "manage",
        "queue_worker",
        "mail",
        "2",
        f"--config={special.resolve()}",
        "--touch-file=/tmp/%s.ok",
    ]


def test_a_runner_started_as_manage_py_starts_its_workers_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    manage = tmp_path / "manage.py"
    manage.write_text("")
    monkeypatch.setattr(sys, "argv", [str(manage), "queue_runner"])

    assert manage_command() == [sys.executable, str(manage.resolve())]


def test_a_runner_started_otherwise_starts_workers_through_django_s_main(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sys, "argv", ["/usr/bin/some-launcher"])

    assert manage_command() == [
        sys.executable,
        "-m",
        "django",
        "--settings=dqtest_site.settings",
    ]


def test_a_pooled_runner_schedules_cron_and_gives_the_cron_queue_a_worker() -> None:
    with override_settings(DQUEUE_CRON=[CRON_ENTRY]):
        planned = plan(get_settings())

    assert [entry.name for entry in planned.entries] == ["nightly"]
    assert planned.runner.counts["cron"] == 1
    assert planned.runner.run_services


def test_an_exactly_configured_runner_runs_no_cron() -> None:
    with override_settings(DQUEUE_CRON=[CRON_ENTRY], DQUEUE_WORKERS={"queue1": 2}):
        planned = plan(get_settings(), PlanOptions(exact=True, config="special.py"))

    assert planned.entries == ()
    assert dict(planned.runner.counts) == {"queue1": 2}
    assert not planned.runner.run_services


def test_only_queue_keeps_that_queue_s_share_and_no_cron() -> None:
    with override_settings(DQUEUE_CRON=[CRON_ENTRY], DQUEUE_WORKERS={"slow": 4}):
        planned = plan(get_settings(), PlanOptions(machine=1, machines=2, only_queue="slow"))

    assert {slot.queue for slot in planned.runner.slots} == {"slow"}
    assert len(planned.runner.slots) == 2
    assert planned.entries == ()


def test_only_the_cron_queue_runs_its_workers_and_the_scheduler() -> None:
    with override_settings(DQUEUE_CRON=[CRON_ENTRY]):
        planned = plan(get_settings(), PlanOptions(only_queue="cron"))

    assert [str(slot) for slot in planned.runner.slots] == ["cron/1"]
    assert [entry.name for entry in planned.entries] == ["nightly"]


def test_exact_configuration_with_pool_options_is_refused() -> None:
    options = PlanOptions(exact=True, config="special.py", machine=1, machines=2)
    with pytest.raises(UsageError, match="cannot be combined with --machine, --of"):
        plan(get_settings(), options)


def test_a_disabled_cron_entry_implies_no_queue() -> None:
    disabled = {**CRON_ENTRY, "enabled": False, "queue": "reports"}
    with override_settings(DQUEUE_CRON=[disabled]):
        planned = plan(get_settings())

    assert "reports" not in planned.runner.counts
    assert not planned.runner.run_services
