"""Worker and runner metrics, /worker_config and /healthz, over real HTTP and real stores.

The HTTP server itself, the ports and the settings: ``test_exposition.py``.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from dqueue import task
from dqueue.backends.base import Outcome, OutcomeKind, QueueCounts
from dqueue.backends.memory import MemoryBackend
from dqueue.backends.sqlite import SQLiteBackend
from dqueue.backends.workers import WorkerBeat
from dqueue.clock import ManualClock
from dqueue.job import Job, new_job_id
from dqueue.metrics import serve, worker_metrics_served
from dqueue.pool import WorkerSlot
from dqueue.runner import Runner
from dqueue.settings import Settings
from dqueue.testing import FailingBackend, free_port, wait_for
from dqueue.worker import Worker
from tests.support.http import answers, get

from .prometheus_text import Family, parse, value

pytest.importorskip("prometheus_client")

from dqueue.metrics import WorkerMetrics  # noqa: E402
from dqueue.runner_metrics import RunnerMetrics  # noqa: E402

QUEUE = "metered"
SLEEPER = [sys.executable, "-c", "import time\nwhile True: time.sleep(0.05)"]


@task(queue=QUEUE, max_attempts=1)
def succeeds(n: int) -> int:
    return n


@task(queue=QUEUE, max_attempts=1)
def fails_for_good() -> None:
    raise ValueError("broken on purpose")


@task(queue=QUEUE, max_attempts=3)
def fails_once_then_retries() -> None:
    raise ValueError("try again")


BUSY_PROBE: list[WorkerMetrics] = []
BUSY_SEEN: list[float] = []


@task(queue=QUEUE, max_attempts=1)
def reads_busy() -> None:
    busy = parse(BUSY_PROBE[0].render())["dqueue_worker_busy"]
    BUSY_SEEN.append(value(busy, "dqueue_worker_busy", queue=QUEUE))


def make_job(fn: Any, *args: Any, clock: ManualClock, **fields: Any) -> Job:
    return Job(
        id=new_job_id(),
        task=fn.name,
        queue=QUEUE,
        args=args,
        enqueued_at=clock.time(),
        max_attempts=fn.options.max_attempts,
        **fields,
    )


def worker_settings(**changes: Any) -> Settings:
    return Settings(**{"MIDDLEWARE": (), "RETRY_JITTER": 0.0, **changes})


def run_burst(backend: MemoryBackend, clock: ManualClock, metrics: WorkerMetrics) -> None:
    Worker(worker_settings(), QUEUE, 1, backend=backend, clock=clock, burst=True,
           metrics=metrics).run()  # fmt: skip


def jobs_family(metrics: WorkerMetrics) -> Family:
    return parse(metrics.render())["dqueue_jobs_total"]


# -- the worker's metrics ------------------------------------------------------------------------


def test_worker_counts_each_settled_job_by_task_and_outcome(clock: ManualClock) -> None:
    backend = MemoryBackend.from_settings(worker_settings(), clock=clock)
    backend.enqueue_many([make_job(succeeds, n, clock=clock) for n in range(3)])
    backend.enqueue(make_job(fails_for_good, clock=clock))
    backend.enqueue(make_job(fails_once_then_retries, clock=clock))
    metrics = WorkerMetrics(QUEUE)
    run_burst(backend, clock, metrics)
    family = jobs_family(metrics)
    assert value(family, "dqueue_jobs_total", queue=QUEUE, task=succeeds.name,
                 outcome="succeeded") == 3  # fmt: skip
    assert value(family, "dqueue_jobs_total", queue=QUEUE, task=fails_for_good.name,
                 outcome="dead") == 1  # fmt: skip
    assert value(family, "dqueue_jobs_total", queue=QUEUE, task=fails_once_then_retries.name,
                 outcome="retried") == 1  # fmt: skip
    assert backend.counts(QUEUE).dead == 1


def test_worker_observes_duration_and_lateness_of_every_run(clock: ManualClock) -> None:
    backend = MemoryBackend.from_settings(worker_settings(), clock=clock)
    backend.enqueue(make_job(succeeds, 1, clock=clock, run_after=clock.time() + 5))
    clock.advance(7)
    metrics = WorkerMetrics(QUEUE)
    run_burst(backend, clock, metrics)
    families = parse(metrics.render())
    durations = families["dqueue_job_duration_seconds"]
    assert value(durations, "dqueue_job_duration_seconds_count", queue=QUEUE) == 1
    lateness = families["dqueue_job_lateness_seconds"]
    assert value(lateness, "dqueue_job_lateness_seconds_sum", queue=QUEUE) == 2.0
    assert value(lateness, "dqueue_job_lateness_seconds_bucket", queue=QUEUE, le="1.0") == 0
    assert value(lateness, "dqueue_job_lateness_seconds_bucket", queue=QUEUE, le="2.5") == 1


def test_worker_is_busy_only_while_a_job_runs(clock: ManualClock) -> None:
    metrics = WorkerMetrics(QUEUE)
    BUSY_PROBE[:] = [metrics]
    BUSY_SEEN.clear()
    backend = MemoryBackend.from_settings(worker_settings(), clock=clock)
    backend.enqueue(make_job(reads_busy, clock=clock))
    run_burst(backend, clock, metrics)
    assert BUSY_SEEN == [1]
    assert value(parse(metrics.render())["dqueue_worker_busy"], "dqueue_worker_busy",
                 queue=QUEUE) == 0  # fmt: skip


def test_worker_counts_store_errors_by_operation() -> None:
    backend = FailingBackend(MemoryBackend.from_settings(worker_settings()))
    backend.fail("reserve", "settle", times=2)
    backend.enqueue(make_job(succeeds, 1, clock=ManualClock()))
    metrics = WorkerMetrics(QUEUE)
    Worker(worker_settings(), QUEUE, 1, backend=backend, burst=True, metrics=metrics).run()
    errors = parse(metrics.render())["dqueue_store_errors_total"]
    assert value(errors, "dqueue_store_errors_total", queue=QUEUE, operation="reserve") == 2
    assert value(errors, "dqueue_store_errors_total", queue=QUEUE, operation="settle") == 2
    assert value(errors, "dqueue_store_errors_total", queue=QUEUE, operation="renew") == 0
    # Settled once the store came back: counted once, as succeeded.
    assert value(jobs_family(metrics), "dqueue_jobs_total", queue=QUEUE, task=succeeds.name,
                 outcome="succeeded") == 1  # fmt: skip


def test_released_and_lease_lost_outcomes_have_their_own_labels(clock: ManualClock) -> None:
    metrics = WorkerMetrics(QUEUE)
    released = make_job(succeeds, 1, clock=clock)
    lost = make_job(succeeds, 2, clock=clock)
    dropped = make_job(succeeds, 3, clock=clock)
    metrics.settled(
        [Outcome(job=released, kind=OutcomeKind.RELEASE), Outcome(job=lost, kind=OutcomeKind.ACK)],
        [lost.id],
        [Outcome(job=dropped, kind=OutcomeKind.ACK)],
    )
    family = jobs_family(metrics)
    assert value(family, "dqueue_jobs_total", queue=QUEUE, task=succeeds.name,
                 outcome="released") == 1  # fmt: skip
    assert value(family, "dqueue_jobs_total", queue=QUEUE, task=succeeds.name,
                 outcome="lease_lost") == 2  # fmt: skip


def test_task_labels_past_the_limit_are_counted_as_other(clock: ManualClock) -> None:
    metrics = WorkerMetrics(QUEUE, task_label_limit=1)
    first = make_job(succeeds, 1, clock=clock)
    second = make_job(fails_for_good, clock=clock)
    metrics.settled([Outcome(job=first, kind=OutcomeKind.ACK)] * 2)
    metrics.settled([Outcome(job=second, kind=OutcomeKind.ACK)] * 3)
    labels = {lbl["task"]: v for _, lbl, v in jobs_family(metrics).samples}
    assert labels == {succeeds.name: 2, "other": 3}


def test_job_arguments_never_appear_in_the_metrics(clock: ManualClock) -> None:
    backend = MemoryBackend.from_settings(worker_settings(), clock=clock)
    backend.enqueue(make_job(succeeds, 4242424242, clock=clock))
    metrics = WorkerMetrics(QUEUE)
    run_burst(backend, clock, metrics)
    text = metrics.render()
    assert succeeds.name in text
    assert "4242424242" not in text


# -- the HTTP server -----------------------------------------------------------------------------


@pytest.fixture
def port() -> int:
    return free_port()


def test_worker_metrics_are_served_over_http_in_the_text_format(port: int) -> None:
    settings = Settings(PROMETHEUS_ADDRESS="127.0.0.1")
    with worker_metrics_served(settings, QUEUE, 1, port) as metrics:
        assert metrics is not None
        metrics.settled([Outcome(job=make_job(succeeds, 1, clock=ManualClock()),
                                 kind=OutcomeKind.ACK)])  # fmt: skip
        status, content_type, body = get(f"http://127.0.0.1:{port}/metrics")
    assert status == 200
    assert content_type.startswith("text/plain; version=0.0.4")
    family = parse(body)["dqueue_jobs_total"]
    assert value(family, "dqueue_jobs_total", queue=QUEUE, task=succeeds.name,
                 outcome="succeeded") == 1  # fmt: skip


def test_the_port_is_free_again_once_the_worker_stops(port: int) -> None:
    url = f"http://127.0.0.1:{port}/metrics"
    with worker_metrics_served(Settings(), QUEUE, 1, port) as metrics:
        assert metrics is not None
        assert get(url)[0] == 200
    with pytest.raises(OSError):
        get(url)
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))
        assert probe.getsockname()[1] == port


def test_a_taken_port_is_one_error_and_the_worker_carries_on_without_metrics(
    port: int, caplog: pytest.LogCaptureFixture
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", port))
        taken.listen()
        with (
            caplog.at_level(logging.INFO, logger="dqueue.metrics"),
            worker_metrics_served(Settings(), QUEUE, 3, port) as metrics,
        ):
            assert metrics is None
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1
    assert errors[0].levelno == logging.ERROR
    assert f"worker {QUEUE}/3 metrics on 127.0.0.1:{port}" in errors[0].getMessage()


# -- the runner's endpoints ----------------------------------------------------------------------

SLOTS = [WorkerSlot(QUEUE, 1), WorkerSlot(QUEUE, 2), WorkerSlot("other", 1)]


def sqlite_settings(tmp_path: Path, **changes: Any) -> Settings:
    values: dict[str, Any] = {
        "BACKEND": "dqueue.backends.sqlite.SQLiteBackend",
        "SQLITE_PATH": str(tmp_path / "queue.sqlite3"),
        "RESTART_BACKOFF_MAX": 0.5,
        "SHUTDOWN_TIMEOUT": 10.0,
    }
    return Settings(**{**values, **changes})


def idle_runner(settings: Settings, slots: Sequence[WorkerSlot] = SLOTS) -> Runner:
    return Runner(settings, slots, worker_command=lambda slot: list(SLEEPER), check=False)


@pytest.fixture
def running() -> Iterator[Callable[[Runner], Runner]]:
    started: list[tuple[Runner, threading.Thread]] = []

    def start(runner: Runner) -> Runner:
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        started.append((runner, thread))
        return runner

    yield start
    for runner, thread in started:
        runner.stop()
        thread.join(60)


def test_runner_metrics_report_each_queue_from_the_store(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path)
    clock = ManualClock()
    store = SQLiteBackend.from_settings(settings)
    store.enqueue_many([make_job(succeeds, n, clock=clock) for n in range(3)])
    store.enqueue(make_job(succeeds, 9, clock=clock, run_after=time.time() + 3600))
    store.pause(QUEUE, time.time() + 3600)
    families = parse(render_runner(RunnerMetrics(idle_runner(settings))))
    jobs = families["dqueue_queue_jobs"]
    assert value(jobs, "dqueue_queue_jobs", queue=QUEUE, state="ready") == 3
    assert value(jobs, "dqueue_queue_jobs", queue=QUEUE, state="delayed") == 1
    assert value(jobs, "dqueue_queue_jobs", queue="other", state="ready") == 0
    paused = families["dqueue_queue_paused"]
    assert value(paused, "dqueue_queue_paused", queue=QUEUE) == 1
    assert value(paused, "dqueue_queue_paused", queue="other") == 0
    assert value(families["dqueue_store_up"], "dqueue_store_up") == 1


def beat_of(queue: str, number: int, host: str = "web-1") -> WorkerBeat:
    name = f"{queue}/{number}"
    return WorkerBeat(
        worker_id=f"{host}:7:{name}", name=name, queue=queue, host=host, pid=7, started_at=0.0
    )


def test_runner_metrics_count_each_queues_live_workers_on_every_machine(
    tmp_path: Path, port: int, clock: ManualClock
) -> None:
    settings = sqlite_settings(tmp_path, PROMETHEUS_ADDRESS="127.0.0.1")
    store = SQLiteBackend.from_settings(settings, clock=clock)
    # Two of QUEUE's workers beat from machines this runner knows nothing of.
    store.beat(beat_of(QUEUE, 1, "web-1"), ttl_s=30)
    store.beat(beat_of(QUEUE, 1, "web-2"), ttl_s=30)
    store.beat(beat_of("other", 1), ttl_s=5)  # stops beating: gone 5 s later
    store.enqueue_many([make_job(succeeds, n, clock=clock) for n in range(2)])
    other_job = dataclasses.replace(make_job(succeeds, 9, clock=clock), queue="other")
    store.enqueue(other_job)
    metrics = RunnerMetrics(idle_runner(settings), cache_s=0.0, backend_for=lambda q: store)
    stop = serve("127.0.0.1", port, metrics.routes(), what="runner metrics")
    assert stop is not None
    try:
        url = f"http://127.0.0.1:{port}/metrics"
        first = parse(get(url)[2])
        clock.advance(10)
        second = parse(get(url)[2])
    finally:
        stop()
    live, no_live = "dqueue_queue_live_workers", "dqueue_queue_no_live_worker"
    assert value(first[live], live, queue=QUEUE) == 2
    assert value(first[live], live, queue="other") == 1
    assert value(first[no_live], no_live, queue="other") == 0
    assert value(second[live], live, queue=QUEUE) == 2
    assert value(second[live], live, queue="other") == 0
    # Ready jobs and nobody alive to run them: flagged; QUEUE has both.
    assert value(second[no_live], no_live, queue="other") == 1
    assert value(second[no_live], no_live, queue=QUEUE) == 0


def render_runner(metrics: RunnerMetrics) -> str:
    return metrics.routes()["/metrics"]().body.decode()


def test_runner_metrics_give_lateness_quantiles_from_the_stores_samples(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path)
    clock = ManualClock()
    store = SQLiteBackend.from_settings(settings, clock=clock)
    store.enqueue(make_job(succeeds, 1, clock=clock, run_after=clock.time() + 5))
    clock.advance(7)
    Worker(settings, QUEUE, 1, backend=store, clock=clock, burst=True, middleware=()).run()
    lateness = parse(render_runner(RunnerMetrics(idle_runner(settings))))[
        "dqueue_queue_lateness_seconds"
    ]
    assert value(lateness, "dqueue_queue_lateness_seconds", queue=QUEUE, quantile="0.5") == 2.0
    assert value(lateness, "dqueue_queue_lateness_seconds", queue=QUEUE, quantile="0.99") == 2.0


def test_runner_metrics_read_the_store_at_most_once_per_second(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path)
    now = [100.0]
    metrics = RunnerMetrics(idle_runner(settings), monotonic=lambda: now[0])
    store = SQLiteBackend.from_settings(settings)

    def ready() -> float:
        return value(parse(render_runner(metrics))["dqueue_queue_jobs"], "dqueue_queue_jobs",
                     queue=QUEUE, state="ready")  # fmt: skip

    assert ready() == 0
    store.enqueue(make_job(succeeds, 1, clock=ManualClock()))
    now[0] += 0.5
    assert ready() == 0  # the cached read
    now[0] += 0.6
    assert ready() == 1


def test_a_store_that_cannot_be_read_is_store_up_0_logged_once(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    missing = tmp_path / "gone"
    missing.mkdir()
    settings = sqlite_settings(tmp_path, SQLITE_PATH=str(missing / "queue.sqlite3"))
    missing.rmdir()  # the store's directory went away: every read fails
    metrics = RunnerMetrics(idle_runner(settings), cache_s=0.0)
    with caplog.at_level(logging.INFO, logger="dqueue.metrics"):
        first = parse(render_runner(metrics))
        second = parse(render_runner(metrics))
    for families in (first, second):
        assert value(families["dqueue_store_up"], "dqueue_store_up") == 0
        assert families["dqueue_queue_jobs"].samples == []
        assert value(families["dqueue_runner_workers"], "dqueue_runner_workers", queue=QUEUE) == 2
    assert caplog.text.count("cannot read the store") == 1
    health = metrics.health()
    assert health.status == 503
    assert json.loads(health.body)["store"] == "down"


class StalledBackend(MemoryBackend):
    """A real memory store whose reads stall until released, as a host that stopped answering."""

    supports_workers = True  # stands in for a shared store here

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.answer = threading.Event()

    def counts(self, queue: str) -> QueueCounts:
        self.answer.wait(60)
        return super().counts(queue)


def test_a_store_that_stops_answering_is_store_up_0_without_stalling_the_scrape(
    tmp_path: Path,
) -> None:
    store = StalledBackend.from_settings(worker_settings())
    store.enqueue(make_job(succeeds, 1, clock=ManualClock()))
    metrics = RunnerMetrics(
        idle_runner(sqlite_settings(tmp_path)),
        cache_s=0.0,
        read_timeout_s=0.2,
        backend_for=lambda queue: store,
    )
    stalled = parse(render_runner(metrics))
    assert value(stalled["dqueue_store_up"], "dqueue_store_up") == 0
    assert metrics.health().status == 503
    store.answer.set()
    # The next scrape takes the stalled read's answer once it has come.
    answered = parse(render_runner(metrics))
    assert value(answered["dqueue_store_up"], "dqueue_store_up") == 1
    assert value(answered["dqueue_queue_jobs"], "dqueue_queue_jobs", queue=QUEUE,
                 state="ready") == 1  # fmt: skip


def test_runner_metrics_count_workers_alive_and_restarts_per_queue(
    tmp_path: Path, running: Callable[[Runner], Runner]
) -> None:
    runner = running(idle_runner(sqlite_settings(tmp_path)))
    wait_for(lambda: len(runner.worker_pids()) == 3)
    victim = runner.worker_pids()[WorkerSlot(QUEUE, 2)]
    os.kill(victim, signal.SIGKILL)
    wait_for(lambda: runner.start_counts()[WorkerSlot(QUEUE, 2)] == 2)
    wait_for(lambda: len(runner.worker_pids()) == 3)
    families = parse(render_runner(RunnerMetrics(runner)))
    assert value(families["dqueue_runner_workers"], "dqueue_runner_workers", queue=QUEUE) == 2
    alive = families["dqueue_runner_workers_alive"]
    assert value(alive, "dqueue_runner_workers_alive", queue=QUEUE) == 2
    assert value(alive, "dqueue_runner_workers_alive", queue="other") == 1
    restarts = families["dqueue_runner_worker_restarts_total"]
    assert restarts.kind == "counter"
    assert value(restarts, "dqueue_runner_worker_restarts_total", queue=QUEUE) == 1
    assert value(restarts, "dqueue_runner_worker_restarts_total", queue="other") == 0


def test_health_is_503_naming_the_slots_whose_workers_are_not_running(tmp_path: Path) -> None:
    health = RunnerMetrics(idle_runner(sqlite_settings(tmp_path))).health()
    body = json.loads(health.body)
    assert health.status == 503
    assert body["workers_down"] == [f"{QUEUE}/1", f"{QUEUE}/2", "other/1"]
    assert body["store"] == "up"


def test_worker_config_lists_each_worker_target_with_its_port(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, PROMETHEUS_START_PORT=9400)
    targets = json.loads(RunnerMetrics(idle_runner(settings)).routes()["/worker_config"]().body)
    assert targets == [
        {"targets": ["127.0.0.1:9401"],
         "labels": {"dqueue_worker_queue": QUEUE, "dqueue_worker_slot": "1"}},
        {"targets": ["127.0.0.1:9402"],
         "labels": {"dqueue_worker_queue": QUEUE, "dqueue_worker_slot": "2"}},
        {"targets": ["127.0.0.1:9403"],
         "labels": {"dqueue_worker_queue": "other", "dqueue_worker_slot": "1"}},
    ]  # fmt: skip


def test_worker_config_names_this_host_when_listening_on_every_address(tmp_path: Path) -> None:
    settings = sqlite_settings(tmp_path, PROMETHEUS_ADDRESS="0.0.0.0")
    [first, *_] = RunnerMetrics(idle_runner(settings)).worker_targets()
    assert first["targets"] == [f"{socket.gethostname()}:9301"]


RECORDER = """
import sys, time
with open(sys.argv[1], "a") as log:
    log.write(" ".join(sys.argv[2:]) + "\\n")
while True:
    time.sleep(0.05)
"""


def recording_runner(settings: Settings, log: Path) -> Runner:
    def command(slot: WorkerSlot) -> list[str]:
        return [sys.executable, "-c", RECORDER, str(log), str(slot)]

    return Runner(settings, SLOTS, worker_command=command, check=False)


def recorded(log: Path) -> list[str]:
    return sorted(log.read_text().splitlines()) if log.exists() else []


def test_the_runner_passes_each_worker_its_metrics_port_when_prometheus_is_on(
    tmp_path: Path, running: Callable[[Runner], Runner]
) -> None:
    start = free_port(consecutive=len(SLOTS) + 1)
    settings = sqlite_settings(tmp_path, ENABLE_PROMETHEUS=True, PROMETHEUS_START_PORT=start)
    log = tmp_path / "argv.log"
    running(recording_runner(settings, log))
    wait_for(lambda: len(recorded(log)) == 3)
    assert recorded(log) == [
        f"{QUEUE}/1 --metrics-port {start + 1}",
        f"{QUEUE}/2 --metrics-port {start + 2}",
        f"other/1 --metrics-port {start + 3}",
    ]


def test_the_runner_passes_no_metrics_port_when_prometheus_is_off(
    tmp_path: Path, running: Callable[[Runner], Runner]
) -> None:
    log = tmp_path / "argv.log"
    running(recording_runner(sqlite_settings(tmp_path), log))
    wait_for(lambda: len(recorded(log)) == 3)
    assert recorded(log) == [f"{QUEUE}/1", f"{QUEUE}/2", "other/1"]


def test_the_runner_serves_health_and_metrics_while_it_runs(
    tmp_path: Path, running: Callable[[Runner], Runner]
) -> None:
    start = free_port(consecutive=len(SLOTS) + 1)
    settings = sqlite_settings(tmp_path, ENABLE_PROMETHEUS=True, PROMETHEUS_START_PORT=start)
    running(idle_runner(settings))
    url = f"http://127.0.0.1:{start}"
    wait_for(lambda: answers(f"{url}/healthz", 200))
    status, content_type, body = get(f"{url}/healthz")
    assert content_type == "application/json"
    assert json.loads(body) == {
        "status": "ok",
        "store": "up",
        "workers": 3,
        "workers_alive": 3,
        "workers_down": [],
        "warnings": [],
    }
    status, content_type, body = get(f"{url}/metrics")
    assert content_type.startswith("text/plain; version=0.0.4")
    alive = parse(body)["dqueue_runner_workers_alive"]
    assert value(alive, "dqueue_runner_workers_alive", queue=QUEUE) == 2


def test_a_runner_whose_metrics_port_is_taken_still_runs_its_workers(
    tmp_path: Path, running: Callable[[Runner], Runner], caplog: pytest.LogCaptureFixture
) -> None:
    start = free_port(consecutive=len(SLOTS) + 1)
    settings = sqlite_settings(tmp_path, ENABLE_PROMETHEUS=True, PROMETHEUS_START_PORT=start)
    with socket.socket() as taken, caplog.at_level(logging.ERROR, logger="dqueue.metrics"):
        taken.bind(("127.0.0.1", start))
        taken.listen()
        runner = running(idle_runner(settings))
        wait_for(lambda: len(runner.worker_pids()) == 3)
        wait_for(lambda: "cannot serve runner metrics" in caplog.text)
    assert caplog.text.count("cannot serve") == 1
