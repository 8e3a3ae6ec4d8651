"""The test project's ``manage.py`` commands as real subprocesses: checks, pool splits, cron."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.testing import wait_for
from tests.django_project import harness

harness.ensure_django()

from dqtest_shop.models import Record  # noqa: E402

pytestmark = [pytest.mark.django, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _clean_state() -> Iterator[None]:
    with harness.dqueue_django_state():
        yield


def configurations(env: dict[str, str], *argument_lists: list[str]) -> list[dict]:
    """Run ``queue_configuration --json ARGS`` once per list, all at once; parse each."""
    processes = [
        subprocess.Popen(
            [sys.executable, str(harness.MANAGE_PY), "queue_configuration", "--json", *arguments],
            env=env,
            cwd=harness.PROJECT_DIR,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for arguments in argument_lists
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        results.append(json.loads(out))
    return results


def test_bad_settings_fail_manage_py_check_naming_each_setting() -> None:
    result = harness.manage("check", "--settings=dqtest_site.settings_bad")

    assert result.returncode == 1
    assert "dqueue_django.E001" in result.stderr
    assert "DQUEUE_PREFETCH must be an integer" in result.stderr
    assert "DQUEUE_WORKERS['default'] must be a whole number of workers" in result.stderr
    assert "dqueue_django.W001" in result.stderr
    assert "Did you mean DQUEUE_WORKERS?" in result.stderr


def test_the_test_project_passes_manage_py_check() -> None:
    result = harness.manage("check")

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_a_command_with_bad_settings_fails_with_one_line() -> None:
    result = harness.manage("queue_status", "--settings=dqtest_site.settings_bad")

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("CommandError: DQUEUE_")
    assert "must be" in lines[0]


def test_pool_splits_for_one_to_four_machines_add_up_to_the_settings() -> None:
    workers = {"queue1": 3, "default": 2, "slow": 5}
    env = harness.project_env(DQTEST_WORKERS=json.dumps(workers))
    plans = [(machines, machine) for machines in range(1, 5) for machine in range(1, machines + 1)]

    results = configurations(env, *[["--machine", str(n), "--of", str(m)] for m, n in plans])

    for machines in range(1, 5):
        totals: dict[str, int] = {}
        for (m, _), data in zip(plans, results, strict=True):
            if m == machines:
                for row in data["queues"]:
                    totals[row["queue"]] = totals.get(row["queue"], 0) + row["here"]
                    # configured queues as set; queues only implied (Tasks backend) get one
                    assert row["pool"] == workers.get(row["queue"], 1)
        assert totals == {queue: workers.get(queue, 1) for queue in totals}, f"{machines}"
        assert workers.items() <= totals.items()


def test_the_seed_s_example_one_worker_per_pooled_machine_two_when_exact(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("DQUEUE_WORKERS = {'queue1': 2}\n")
    env = harness.project_env(DQTEST_WORKERS='{"queue1": 3}')

    results = configurations(
        env,
        ["--machine", "1", "--of", "3"],
        ["--machine", "2", "--of", "3"],
        ["--machine", "3", "--of", "3"],
        ["--exact-configuration", f"--config={special}"],
    )

    def queue1_here(data: dict) -> int:
        return sum(row["here"] for row in data["queues"] if row["queue"] == "queue1")

    assert [queue1_here(data) for data in results] == [1, 1, 1, 2]
    assert results[3]["mode"] == "exact"
    assert results[3]["services"] == []


def test_a_cron_py_command_runs_every_second_through_the_runner(tmp_path: Path) -> None:
    env = harness.project_env(
        DQTEST_CRON="1",
        DQTEST_BACKEND="sqlite",
        DQTEST_QUEUE_DB=str(tmp_path / "queue.sqlite3"),
        DQTEST_WORKERS='{"default": 0, "slow": 0}',
    )
    log = tmp_path / "runner.log"

    with harness.running("queue_runner", env=env, log=log):
        ticks = wait_for(
            lambda: Record.objects.filter(kind="tick").count() >= 3,
            explain=harness.tail(log),
            what="3 cron ticks",
        )

    assert ticks
    assert set(Record.objects.filter(kind="tick").values_list("value", flat=True)) == {"cron-tick"}
    assert "started service cron" in log.read_text()


def test_queue_status_watch_prints_snapshots_until_ctrl_c_and_exits_0(tmp_path: Path) -> None:
    log = tmp_path / "watch.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, str(harness.MANAGE_PY), "queue_status", "--interval", "0.1"],
            env=harness.project_env(),
            cwd=harness.PROJECT_DIR,
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for(lambda: log.read_text().count(", every 0.1 s\n\nqueue ") >= 2)
        finally:
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)

    assert process.returncode == 0
    assert err == ""
    assert "\x1b[" not in log.read_text()


def test_queue_status_refuses_a_bad_interval_in_one_line_with_status_2() -> None:
    result = harness.manage("queue_status", "--watch", "--interval", "-1")

    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "manage.py queue_status: error: argument --interval: '-1' is not a duration: it must "
        "be more than 0 seconds (see 'manage.py queue_status --help')"
    ]
