"""``manage.py queue_runner`` with Prometheus on: workers get ``--prometheus-port`` and serve it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from django.test import override_settings

from dqueue.testing import free_port, wait_for
from tests.django_project import harness
from tests.support.http import answers, get

from .scraping import total

harness.ensure_django()

from dqtest_shop.tasks import record  # noqa: E402

pytestmark = [pytest.mark.django, pytest.mark.slow]


def test_queue_runner_workers_serve_metrics_on_the_ports_of_worker_config(
    tmp_path: Path,
) -> None:
    queue_db = str(tmp_path / "queue.sqlite3")
    start = free_port(consecutive=4)  # the master and up to three workers (default, slow, ...)
    config = tmp_path / "metrics.py"
    config.write_text(f"DQUEUE_ENABLE_PROMETHEUS = True\nDQUEUE_PROMETHEUS_START_PORT = {start}\n")
    env = harness.project_env(DQTEST_BACKEND="sqlite", DQTEST_QUEUE_DB=queue_db,
                              DQTEST_WORKERS='{"default": 1}')  # fmt: skip
    log = tmp_path / "runner.log"
    master = f"http://127.0.0.1:{start}"
    with harness.running("queue_runner", f"--config={config}", env=env, log=log):
        wait_for(
            lambda: answers(f"{master}/healthz"), explain=harness.tail(log), what="a healthy runner"
        )
        groups = json.loads(get(f"{master}/worker_config")[2])
        [default] = [g for g in groups if g["labels"]["dqueue_worker_queue"] == "default"]
        worker = f"http://{default['targets'][0]}/metrics"
        wait_for(
            lambda: answers(worker), explain=harness.tail(log), what="the default worker's metrics"
        )

        settings = {"DQUEUE_BACKEND": "dqueue.backends.sqlite.SQLiteBackend",
                    "DQUEUE_SQLITE_PATH": queue_db}  # fmt: skip
        with harness.dqueue_django_state(), override_settings(**settings):
            for n in range(3):
                record("metrics", str(n))

        def succeeded() -> float:
            text = get(worker)[2]
            return total(text, "dqueue_jobs_total", task=record.name, outcome="succeeded")

        wait_for(lambda: succeeded() == 3, explain=harness.tail(log), what="3 jobs in the counters")
        # Only a worker given --prometheus-port serves: this one got its slot's port.
        assert f"serving worker default/1 metrics at {worker.removesuffix('/metrics')}" in (
            log.read_text()
        )
