from __future__ import annotations

import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from dqueue.errors import ConfigurationError
from dqueue.pool import WorkerSlot
from dqueue.runner import Runner, check_backends, describe_exit, python_worker_command
from dqueue.settings import Settings
from dqueue.testing import wait_for

SLOTS = [WorkerSlot("default", 1), WorkerSlot("default", 2)]

# Each child appends "<slot> <runner pid env>" to a file, then behaves as told.
CHILD = """
import os, signal, sys, time
log, behaviour = sys.argv[1], sys.argv[2]
with open(log, "a") as f:
    f.write(sys.argv[3] + " " + os.environ.get("DQUEUE_RUNNER_PID", "") + "\\n")
if behaviour == "crash":
    sys.exit(3)
if behaviour == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
if behaviour == "graceful":
    def stop(signum, frame):
        with open(log, "a") as f:
            f.write("stopped " + sys.argv[3] + "\\n")
        sys.exit(0)
    signal.signal(signal.SIGTERM, stop)
while True:
    time.sleep(0.05)
"""


def child_command(log: Path, behaviour: str) -> Callable[[WorkerSlot], list[str]]:
    def command(slot: WorkerSlot) -> list[str]:
        return [sys.executable, "-c", CHILD, str(log), behaviour, str(slot)]

    return command


def lines(log: Path) -> list[str]:
    return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def start_runner() -> Iterator[Callable[[Runner], threading.Thread]]:
    started: list[tuple[Runner, threading.Thread]] = []

    def start(runner: Runner) -> threading.Thread:
        thread = threading.Thread(target=runner.run, daemon=True)
        thread.start()
        started.append((runner, thread))
        return thread

    yield start
    for runner, thread in started:
        runner.stop()
        thread.join(60)


def settings(**changes: object) -> Settings:
    return Settings(**{"RESTART_BACKOFF_MAX": 0.5, "SHUTDOWN_TIMEOUT": 10.0, **changes})


def test_runner_starts_one_process_per_slot_that_knows_its_runner(
    tmp_path: Path, start_runner: Callable[[Runner], threading.Thread]
) -> None:
    log = tmp_path / "log"
    runner = Runner(settings(), SLOTS, worker_command=child_command(log, "idle"), check=False)
    start_runner(runner)
    wait_for(lambda: len(lines(log)) == 2)
    import os

    assert sorted(lines(log)) == [f"default/1 {os.getpid()}", f"default/2 {os.getpid()}"]
    assert len(runner.worker_pids()) == 2


def test_runner_restarts_a_worker_that_dies_and_logs_its_exit_code(
    tmp_path: Path,
    start_runner: Callable[[Runner], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = tmp_path / "log"
    runner = Runner(settings(), SLOTS[:1], worker_command=child_command(log, "crash"), check=False)
    with caplog.at_level(logging.WARNING, logger="dqueue.runner"):
        start_runner(runner)
        wait_for(lambda: runner.start_counts()[SLOTS[0]] >= 4)
    assert "worker default/1 died (exit code 3" in caplog.text
    assert "crash-looping" in caplog.text


def test_runner_restarts_a_worker_killed_by_a_signal(
    tmp_path: Path,
    start_runner: Callable[[Runner], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    import os

    log = tmp_path / "log"
    runner = Runner(settings(), SLOTS[:1], worker_command=child_command(log, "idle"), check=False)
    with caplog.at_level(logging.WARNING, logger="dqueue.runner"):
        start_runner(runner)
        wait_for(lambda: SLOTS[0] in runner.worker_pids())
        first = runner.worker_pids()[SLOTS[0]]
        os.kill(first, signal.SIGKILL)
        wait_for(lambda: runner.worker_pids().get(SLOTS[0], first) != first)
    assert "signal SIGKILL" in caplog.text


def test_stop_sends_sigterm_and_waits_for_workers_to_finish(
    tmp_path: Path, start_runner: Callable[[Runner], threading.Thread]
) -> None:
    log = tmp_path / "log"
    runner = Runner(settings(), SLOTS, worker_command=child_command(log, "graceful"), check=False)
    thread = start_runner(runner)
    wait_for(lambda: len(lines(log)) == 2)
    runner.stop()
    thread.join(60)
    assert not thread.is_alive()
    assert sorted(line for line in lines(log) if line.startswith("stopped")) == [
        "stopped default/1",
        "stopped default/2",
    ]


def test_workers_that_ignore_sigterm_are_killed_after_the_shutdown_timeout(
    tmp_path: Path,
    start_runner: Callable[[Runner], threading.Thread],
    caplog: pytest.LogCaptureFixture,
) -> None:
    log = tmp_path / "log"
    runner = Runner(
        settings(SHUTDOWN_TIMEOUT=0.5),
        SLOTS[:1],
        worker_command=child_command(log, "stubborn"),
        check=False,
    )
    thread = start_runner(runner)
    wait_for(lambda: len(lines(log)) == 1)
    time.sleep(0.2)  # let the child install its SIGTERM handler
    with caplog.at_level(logging.WARNING, logger="dqueue.runner"):
        runner.stop()
        thread.join(60)
    assert not thread.is_alive()
    assert "still running after 0.5s (DQUEUE_SHUTDOWN_TIMEOUT); killing it" in caplog.text
    assert runner.worker_pids() == {}


class RecordingService:
    name = "recorder"
    queues: frozenset[str] = frozenset()

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def start(self) -> None:
        self.events.append("start")

    def stop(self, timeout_s: float = 5.0) -> None:
        self.events.append("stop")


def test_services_start_after_the_workers_and_stop_on_shutdown(
    tmp_path: Path, start_runner: Callable[[Runner], threading.Thread]
) -> None:
    events: list[str] = []
    log = tmp_path / "log"
    runner = Runner(
        settings(),
        SLOTS[:1],
        worker_command=child_command(log, "idle"),
        services=[RecordingService(events)],
        check=False,
    )
    thread = start_runner(runner)
    wait_for(lambda: events == ["start"])
    assert runner.start_counts()[SLOTS[0]] == 1
    runner.stop()
    thread.join(60)
    assert events == ["start", "stop"]


@pytest.mark.parametrize(
    "backend",
    ["dqueue.backends.synchronous.SynchronousBackend", "dqueue.backends.memory.MemoryBackend"],
)
def test_backends_that_cannot_serve_worker_processes_are_refused(backend: str) -> None:
    with pytest.raises(ConfigurationError, match="cannot serve worker processes"):
        check_backends(Settings(BACKEND=backend), ["default"])


def test_runner_refuses_a_bad_backend_before_starting_any_worker(tmp_path: Path) -> None:
    log = tmp_path / "log"
    runner = Runner(Settings(), SLOTS, worker_command=child_command(log, "idle"))
    with pytest.raises(ConfigurationError):
        runner.run()
    assert runner.start_counts() == {SLOTS[0]: 0, SLOTS[1]: 0}


def test_the_sqlite_backend_can_serve_worker_processes_and_is_reachable(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        BACKEND="dqueue.backends.sqlite.SQLiteBackend", SQLITE_PATH=str(tmp_path / "q.sqlite3")
    )
    with caplog.at_level(logging.WARNING, logger="dqueue.runner"):
        assert check_backends(settings, ["default"]) is None
    assert caplog.records == []


def test_an_unreachable_store_is_a_warning_not_an_error(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    settings = Settings(
        BACKEND="dqueue.backends.sqlite.SQLiteBackend",
        SQLITE_PATH=str(tmp_path / "missing" / "q.sqlite3"),
    )
    with caplog.at_level(logging.WARNING, logger="dqueue.runner"):
        check_backends(settings, ["default"])
    assert "the store of queue 'default' is unreachable" in caplog.text


def test_python_worker_command_runs_the_dqueue_cli_worker() -> None:
    command = python_worker_command(["--config", "/etc/special.py"])
    assert command(WorkerSlot("mail", 2)) == [
        sys.executable,
        "-m",
        "dqueue",
        "worker",
        "mail",
        "2",
        "--config",
        "/etc/special.py",
    ]


@pytest.mark.parametrize(
    ("returncode", "text"),
    [(0, "exit code 0"), (3, "exit code 3"), (-9, "signal SIGKILL"), (-15, "signal SIGTERM")],
)
def test_exits_are_described_by_code_or_signal(returncode: int, text: str) -> None:
    assert describe_exit(returncode) == text
