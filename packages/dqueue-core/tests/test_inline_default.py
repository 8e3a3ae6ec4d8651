"""With no DQUEUE_BACKEND, tasks run inline: said once, delays said to run now, results kept."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from dqueue import configure, get_settings, ops, task
from dqueue.clock import ManualClock
from dqueue.errors import JobFailed
from dqueue.inline import SynchronousBackend
from dqueue.status import render_status

RAN: list[int] = []


@task(store_result=True)
def add(a: int, b: int) -> int:
    RAN.append(a + b)
    return a + b


@task(result_ttl=60)
def fail() -> None:
    raise RuntimeError("no")


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


def test_the_first_enqueue_without_a_configured_backend_warns_once_naming_the_setting(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING):
        add(1, 2)
        add(3, 4)
    [warning] = _warnings(caplog)
    assert "DQUEUE_BACKEND is not set, so tasks run inline" in warning
    caplog.clear()
    configure(BACKEND="synchronous")  # inline on purpose: nothing to warn of
    with caplog.at_level(logging.WARNING):
        add(1, 2)
    assert _warnings(caplog) == []


def test_a_delayed_job_run_inline_says_it_ran_now(caplog: pytest.LogCaptureFixture) -> None:
    configure(BACKEND="synchronous")
    RAN.clear()
    with caplog.at_level(logging.WARNING):
        add.enqueue_in(timedelta(hours=1), 2, 2)
    assert RAN == [4]
    [warning] = _warnings(caplog)
    assert f"{add.name}[" in warning
    assert "ran now, not when due" in warning


def test_the_readme_s_result_works_without_a_configured_backend() -> None:
    assert add(2, 3).result() == 5
    assert add(2, 3).result(timeout=10) == 5


def test_a_failed_inline_run_that_kept_its_result_raises_job_failed() -> None:
    configure(SYNCHRONOUS_RAISE=False)
    handle = fail()
    with pytest.raises(JobFailed, match="RuntimeError"):
        handle.result()


def test_an_inline_result_is_kept_for_its_result_ttl(clock: ManualClock) -> None:
    backend = SynchronousBackend.from_settings(get_settings(), clock=clock)
    job = add.using(result_ttl=30).build_job((2, 3), {})
    backend.enqueue_many([job])
    kept = backend.result(job.id)
    assert kept is not None
    assert kept.return_value == 5
    clock.advance(31)
    assert backend.result(job.id) is None


def test_status_says_nothing_is_queued_because_tasks_run_inline() -> None:
    rows = ops.queue_status(get_settings(), ["default"])
    assert "nothing is queued" in render_status(rows)
    assert "runs every task inline" in render_status(rows)
