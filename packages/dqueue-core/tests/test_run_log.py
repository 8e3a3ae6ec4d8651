"""The line a worker logs for each finished run (dqueue.run_log)."""

from __future__ import annotations

import logging
import traceback
from typing import Any

import pytest

from dqueue import task
from dqueue.backends.memory import MemoryBackend
from dqueue.clock import ManualClock
from dqueue.errors import Retry
from dqueue.inline import SynchronousBackend
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from dqueue.worker import Worker

CLOCK = ManualClock()


@task(queue="logged")
def takes_a_quarter_second(value: int) -> int:
    CLOCK.advance(0.25)
    return value


def _users_own_helper() -> None:
    raise ValueError("broken\non purpose")


@task(queue="logged", max_attempts=3)
def fails(value: int) -> None:
    CLOCK.advance(0.5)
    _users_own_helper()


@task(queue="logged", max_attempts=3)
def asks_for_a_retry() -> None:
    raise Retry(delay=8, reason="the API said later")


@task(queue="logged", max_attempts=3, retry_on=(KeyError,))
def fails_without_retry() -> None:
    raise ValueError("not a KeyError")


def run_jobs(*jobs: Job, **settings: Any) -> list[logging.LogRecord]:
    """Run ``jobs`` and their retries in burst workers; the records of ``dqueue.jobs``."""
    settings = {"MIDDLEWARE": (), "RETRY_JITTER": 0.0, "RETRY_BACKOFF": 4.0, **settings}
    backend = MemoryBackend.from_settings(Settings(**settings), clock=CLOCK)
    backend.enqueue_many(list(jobs))
    while backend.counts("logged").total:
        Worker(Settings(**settings), "logged", backend=backend, clock=CLOCK, burst=True).run()
        CLOCK.advance(10)  # the retries are due
    return [record for record in RECORDS if record.name == "dqueue.jobs"]


def job_of(fn: Any, *args: Any, **changes: Any) -> Job:
    return Job(
        id=new_job_id(),
        task=fn.name,
        queue="logged",
        args=args,
        enqueued_at=CLOCK.time(),
        **{"max_attempts": fn.options.max_attempts or 1, **changes},
    )


RECORDS: list[logging.LogRecord] = []


@pytest.fixture(autouse=True)
def collect_records() -> Any:
    """Every record of ``dqueue.*`` in RECORDS, DEBUG ones included."""

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            RECORDS.append(record)

    logger, handler = logging.getLogger("dqueue"), Collect()
    level = logger.level
    RECORDS.clear()
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield
    logger.removeHandler(handler)
    logger.setLevel(level)


def only(records: list[logging.LogRecord], level: int) -> logging.LogRecord:
    at_level = [record for record in records if record.levelno == level]
    assert len(at_level) == 1, [record.getMessage() for record in records]
    return at_level[0]


def test_a_finished_job_is_one_info_line_with_task_id_queue_duration_and_lateness() -> None:
    job = job_of(takes_a_quarter_second, 1, run_after=CLOCK.time() - 2)
    records = run_jobs(job)
    line = only(records, logging.INFO)
    assert [r.levelno for r in records] == [logging.INFO]
    message = line.getMessage()
    assert f"{takes_a_quarter_second.name}[{job.id}]" in message
    assert "on logged" in message
    assert "done in 250.0 ms" in message
    assert "started 2 s late" in message
    assert (line.task, line.job_id, line.queue, line.outcome) == (  # type: ignore[attr-defined]
        takes_a_quarter_second.name,
        job.id,
        "logged",
        "ack",
    )
    assert line.duration_s == 0.25  # type: ignore[attr-defined]
    assert line.lateness_s == 2.0  # type: ignore[attr-defined]


def test_a_failure_with_attempts_left_is_one_warning_that_says_when_it_is_retried() -> None:
    records = run_jobs(job_of(fails, 1))
    warnings = [r for r in records if r.levelno == logging.WARNING]
    first = warnings[0].getMessage()
    assert "failed in 500.0 ms" in first
    assert "ValueError: broken\\non purpose" in first
    assert "retrying in 4 s, attempt 2 of 3" in first
    assert "retrying in 8 s, attempt 3 of 3" in warnings[1].getMessage()
    assert warnings[1].retry_in_s == 8.0  # type: ignore[attr-defined]


def test_a_failure_on_the_last_attempt_says_it_was_dead_lettered() -> None:
    records = run_jobs(job_of(fails, 1))
    last = [r for r in records if r.levelno == logging.WARNING][-1]
    assert "dead-lettered after 3 attempts" in last.getMessage()
    assert "the dead letter keeps the full traceback" in last.getMessage()
    assert last.outcome == "dead"  # type: ignore[attr-defined]


def test_an_exception_not_retried_says_why_it_was_dead_lettered_at_once() -> None:
    line = only(run_jobs(job_of(fails_without_retry)), logging.WARNING)
    assert "dead-lettered after 1 attempt (builtins.ValueError is not in the task's retry_on)" in (
        line.getMessage()
    )


def test_the_warning_shows_the_tasks_frames_and_none_of_dqueues() -> None:
    line = only(run_jobs(job_of(fails, 1, max_attempts=1)), logging.WARNING)
    assert line.exc_info is not None
    frames = traceback.extract_tb(line.exc_info[2])
    assert [frame.name for frame in frames] == ["fails", "_users_own_helper"]


def test_the_full_traceback_is_a_debug_record() -> None:
    records = run_jobs(job_of(fails, 1, max_attempts=1))
    full = only(records, logging.DEBUG)
    assert full.exc_info is not None
    names = [frame.name for frame in traceback.extract_tb(full.exc_info[2])]
    assert "execute" in names
    assert names[-2:] == ["fails", "_users_own_helper"]


def test_raise_retry_is_one_info_line_not_a_failure() -> None:
    records = run_jobs(job_of(asks_for_a_retry, max_attempts=2), RETRY_BACKOFF=1.0)
    retried = records[0]
    assert retried.levelno == logging.INFO
    message = retried.getMessage()
    assert "retrying in 8 s, attempt 2 of 2 as the task asked (the API said later)" in message
    assert retried.exc_info is None


def test_task_names_and_ids_in_the_line_are_escaped() -> None:
    job = job_of(takes_a_quarter_second, 1).with_changes(id="j1\nFORGED")
    records = run_jobs(job)
    messages = [record.getMessage() for record in records]
    assert messages
    assert all("\n" not in message for message in messages)
    assert "j1\\nFORGED" in messages[0]


def test_an_inline_failure_that_is_not_raised_is_a_warning_with_the_tasks_frames() -> None:
    # Inline on purpose (BACKEND set): the only warning is the failure's.
    settings = Settings().replace(BACKEND="synchronous", SYNCHRONOUS_RAISE=False, MIDDLEWARE=())
    SynchronousBackend.from_settings(settings).enqueue(job_of(fails, 1))
    line = only([r for r in RECORDS if r.name.startswith("dqueue")], logging.WARNING)
    assert "DQUEUE_SYNCHRONOUS_RAISE is off" in line.getMessage()
    assert line.exc_info is not None
    names = [frame.name for frame in traceback.extract_tb(line.exc_info[2])]
    assert names == ["fails", "_users_own_helper"]


def test_the_frames_of_a_plugins_call_wrapper_are_dropped_too() -> None:
    from dqueue import execution

    namespace: dict[str, Any] = {"__name__": "some_plugin.wrappers"}
    exec("def wrap(task, job, call):\n    return call()\n", namespace)  # a plugin's module
    execution.add_call_wrapper(namespace["wrap"])
    try:
        line = only(run_jobs(job_of(fails, 1, max_attempts=1)), logging.WARNING)
    finally:
        execution.remove_call_wrapper(namespace["wrap"])
    assert line.exc_info is not None
    frames = traceback.extract_tb(line.exc_info[2])
    assert [frame.name for frame in frames] == ["fails", "_users_own_helper"]
