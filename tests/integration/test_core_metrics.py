"""A ``dqueue runner`` on SQLite with Prometheus on: scrape the master and its workers over HTTP."""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.testing import free_port, wait_for
from tests.support.http import answers, get

from .core_processes import QUEUE, Workspace, job, workspace
from .scraping import total

pytestmark = pytest.mark.slow

JOBS = 200


@pytest.fixture
def start_port() -> int:
    return free_port(consecutive=3)  # the master and two workers


@pytest.fixture
def space(tmp_path: Path, start_port: int) -> Iterator[Workspace]:
    yield from workspace(
        tmp_path,
        LEASE_SECONDS="5",
        WORKERS='{"work": 2}',
        ENABLE_PROMETHEUS="true",
        PROMETHEUS_START_PORT=str(start_port),
    )


def test_scraped_counters_match_the_jobs_a_runner_ran(space: Workspace, start_port: int) -> None:
    master = f"http://127.0.0.1:{start_port}"
    runner = space.dqueue("runner")
    wait_for(lambda: answers(f"{master}/healthz"), what="a healthy runner")

    targets = json.loads(get(f"{master}/worker_config")[2])
    assert sorted(group["labels"]["dqueue_worker_slot"] for group in targets) == ["1", "2"]
    workers = [f"http://{group['targets'][0]}/metrics" for group in targets]
    assert [url.split(":")[-1] for url in sorted(workers)] == [
        f"{start_port + 1}/metrics",
        f"{start_port + 2}/metrics",
    ]
    for url in workers:
        wait_for(lambda url=url: answers(url), what=f"worker metrics at {url}")

    backend = space.backend()
    backend.enqueue_many([job("note", n) for n in range(JOBS)])
    backend.enqueue(job("overruns", 0, max_attempts=1, timeout=0.5))
    wait_for(lambda: backend.counts(QUEUE).total == 0, timeout=120, what="the queue to drain")

    def scraped(name: str, **labels: str) -> float:
        return sum(total(get(url)[2], name, **labels) for url in workers)

    # Workers count a job once the store has its outcome, a moment after it ran.
    wait_for(
        lambda: scraped("dqueue_jobs_total", task="coretasks.note", outcome="succeeded") == JOBS,
        what=f"{JOBS} succeeded jobs in the workers' counters",
    )
    assert scraped("dqueue_jobs_total", task="coretasks.overruns", outcome="dead") == 1
    assert scraped("dqueue_jobs_total", outcome="retried") == 0
    assert scraped("dqueue_job_duration_seconds_count", queue=QUEUE) == JOBS + 1
    assert scraped("dqueue_job_lateness_seconds_count", queue=QUEUE) == JOBS + 1
    assert scraped("dqueue_store_errors_total") == 0
    assert len(space.events("note")) == JOBS

    # The master reads the store at most once a second: a scrape may see the last read.
    def master_once_dead_counted() -> str | None:
        status, _, text = get(f"{master}/metrics")
        assert status == 200
        dead = total(text, "dqueue_queue_jobs", queue=QUEUE, state="dead")
        return text if dead == 1 else None

    text = wait_for(master_once_dead_counted, what="the dead job in the master's gauges")
    assert total(text, "dqueue_store_up") == 1
    assert total(text, "dqueue_queue_jobs", queue=QUEUE, state="ready") == 0
    assert total(text, "dqueue_queue_jobs", queue=QUEUE, state="in_flight") == 0
    assert total(text, "dqueue_queue_lateness_seconds", queue=QUEUE, quantile="0.5") >= 0
    assert total(text, "dqueue_runner_workers", queue=QUEUE) == 2
    assert total(text, "dqueue_runner_workers_alive", queue=QUEUE) == 2
    assert total(text, "dqueue_runner_worker_restarts_total", queue=QUEUE) == 0
    # Live workers are the store's view (their heartbeats): both have beaten by now.
    assert total(text, "dqueue_queue_live_workers", queue=QUEUE) == 2
    assert total(text, "dqueue_queue_no_live_worker", queue=QUEUE) == 0

    runner.send_signal(signal.SIGTERM)
    assert runner.wait(60) == 0
    assert not answers(f"{master}/healthz")
