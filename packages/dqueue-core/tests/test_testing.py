"""dqueue.testing: the helpers that the suite and users' tests share."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import threading
from datetime import timedelta
from pathlib import Path

import pytest

from dqueue.backends import get_backend
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.memory import MemoryBackend
from dqueue.clock import ManualClock
from dqueue.errors import BackendUnavailable
from dqueue.job import Job
from dqueue.settings import Settings, get_settings
from dqueue.testing import FailingBackend, clean_settings, free_port, wait_for


def _job(number: int = 1) -> Job:
    return Job(id=f"job-{number}", task="app.work", enqueued_at=0.0)


# -- wait_for ------------------------------------------------------------------------------------


def test_wait_for_returns_the_first_truthy_value() -> None:
    values = iter([None, 0, "ready"])
    assert wait_for(lambda: next(values), interval=0) == "ready"


def test_wait_for_sees_a_condition_another_thread_makes_true() -> None:
    done = threading.Event()
    threading.Thread(target=done.set).start()
    assert wait_for(done.is_set) is True


def test_wait_for_fails_naming_what_it_waited_for_and_the_last_value() -> None:
    with pytest.raises(AssertionError, match=r"waiting for the queue to fill \(last value: 0\)"):
        wait_for(lambda: 0, timeout=0.05, what="the queue to fill")


def test_wait_for_names_a_lambda_by_its_source() -> None:
    with pytest.raises(AssertionError, match=r"lambda: \[\] \!= \[\]"):
        wait_for(lambda: [] != [], timeout=timedelta(milliseconds=10))


def test_wait_for_adds_the_explanation_to_its_failure() -> None:
    with pytest.raises(AssertionError, match="log tail here"):
        wait_for(lambda: False, timeout=0, explain=lambda: "log tail here")


def test_wait_for_treats_ignored_errors_as_not_yet_and_raises_others() -> None:
    calls = iter([BackendUnavailable("coming back"), "up"])

    def probe() -> str:
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert wait_for(probe, interval=0, ignore=(BackendUnavailable,)) == "up"
    with pytest.raises(ZeroDivisionError):
        wait_for(lambda: 1 / 0, ignore=(BackendUnavailable,))


def test_wait_for_reports_the_last_ignored_error() -> None:
    def down() -> None:
        raise BackendUnavailable("still down")

    with pytest.raises(AssertionError, match="last error: BackendUnavailable: still down"):
        wait_for(down, timeout=0.02, ignore=(BackendUnavailable,))


# -- free_port -----------------------------------------------------------------------------------


def test_free_port_can_be_bound_on_loopback() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", free_port()))


def test_free_port_finds_a_run_of_consecutive_ports() -> None:
    first = free_port(consecutive=3)
    with socket.socket() as a, socket.socket() as b, socket.socket() as c:
        for offset, sock in enumerate((a, b, c)):
            sock.bind(("127.0.0.1", first + offset))


def test_free_port_refuses_an_empty_run() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        free_port(consecutive=0)


# -- clean_settings ------------------------------------------------------------------------------


def test_clean_settings_hides_the_environment_and_puts_it_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DQUEUE_LEASE_SECONDS", "7")
    with clean_settings() as settings:
        assert settings.LEASE_SECONDS == Settings().LEASE_SECONDS
        assert "DQUEUE_LEASE_SECONDS" not in os.environ
        os.environ["DQUEUE_POLL_INTERVAL"] = "9"  # set inside: seen inside, gone after
        assert get_settings().POLL_INTERVAL == 9
    assert os.environ["DQUEUE_LEASE_SECONDS"] == "7"
    assert "DQUEUE_POLL_INTERVAL" not in os.environ
    assert get_settings().LEASE_SECONDS == 7


def test_clean_settings_applies_overrides_and_closes_the_backends_built_inside() -> None:
    with clean_settings(BACKEND="dqueue.backends.memory.MemoryBackend") as settings:
        assert settings.BACKEND == "dqueue.backends.memory.MemoryBackend"
        inside = get_backend("default")
        inside.enqueue(_job())
        assert inside.counts("default").ready == 1
    assert get_settings().BACKEND != "dqueue.backends.memory.MemoryBackend"
    assert get_backend("default") is not inside


# -- FailingBackend ------------------------------------------------------------------------------


@pytest.fixture
def store() -> FailingBackend:
    return FailingBackend(MemoryBackend(clock=ManualClock()))


def test_a_failing_backend_passes_every_call_until_told_to_fail(store: FailingBackend) -> None:
    store.enqueue(_job())
    [job] = store.reserve("default", worker_id="w", timeout_s=0)
    assert store.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id="w") == []
    assert store.failures == []


def test_a_failing_backend_fails_the_named_operation_the_given_number_of_times(
    store: FailingBackend,
) -> None:
    store.enqueue(_job())
    store.fail("reserve", times=2)
    for _ in range(2):
        with pytest.raises(BackendUnavailable, match="reserve: the store is down"):
            store.reserve("default", worker_id="w", timeout_s=0)
    assert store.counts("default").ready == 1  # other operations pass
    assert [job.id for job in store.reserve("default", worker_id="w", timeout_s=0)] == ["job-1"]
    assert store.failures == ["reserve", "reserve"]


def test_a_failing_backend_is_down_for_everything_inside_the_block_but_close(
    store: FailingBackend,
) -> None:
    with store.down():
        with pytest.raises(BackendUnavailable):
            store.enqueue(_job())
        with pytest.raises(BackendUnavailable):
            store.ping()
        store.close()
    store.enqueue(_job(2))
    assert store.backend.counts("default").ready == 1
    assert store.failures == ["enqueue", "ping"]


def test_a_failing_backend_refuses_an_unknown_operation(store: FailingBackend) -> None:
    with pytest.raises(ValueError, match="no such backend operation: reserv"):
        store.fail("reserv")


def test_a_failing_backend_has_the_capabilities_of_the_store_it_wraps(
    store: FailingBackend,
) -> None:
    assert store.supports_leases == store.backend.supports_leases
    assert store.supports_results is True
    assert store.name == store.backend.name


# -- the README's example --------------------------------------------------------------------------


def test_the_readme_testing_example_passes_under_pytest(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    section = readme.split("## Testing code that uses dqueue", 1)[1]
    [example] = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)[:1]
    (tmp_path / "test_example.py").write_text(example)
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout
