"""A running task reports its progress (``dqueue.set_progress``); readers see it while it runs."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import dqueue
from dqueue import configure, get_settings, task
from dqueue.backends.base import JobStatus
from dqueue.backends.memory import MemoryBackend
from dqueue.cli import main
from dqueue.errors import BackendUnavailable, EncodeError, NoCurrentJob
from dqueue.inline import SynchronousBackend
from dqueue.job import Job
from dqueue.json_values import MAX_PROGRESS_BYTES
from dqueue.settings import Settings
from dqueue.testing import FailingBackend
from dqueue.worker import EXIT_OK, Worker

REPORTED = threading.Event()
GO_ON = threading.Event()
KEPT: list[bool] = []


@task(queue="work", store_result=True)
def import_rows(total: int) -> str:
    KEPT.append(dqueue.set_progress({"done": total // 2, "total": total}))
    REPORTED.set()
    assert GO_ON.wait(30), "the test never let the task go on"
    KEPT.append(dqueue.set_progress({"done": total, "total": total}))
    return "imported"


PROGRESS: dict[str, Any] = {}


@task(queue="work", store_result=True)
def report(_: int) -> bool:
    """Report the progress a test put in ``PROGRESS`` (arguments must be JSON; it may not be)."""
    return dqueue.set_progress(PROGRESS["value"])


@task(queue="work")
def report_without_result(progress: Any) -> None:
    KEPT.append(dqueue.set_progress(progress))


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    REPORTED.clear()
    GO_ON.clear()
    KEPT.clear()
    yield
    GO_ON.set()  # a failed test never leaves a worker thread waiting


def _start(worker: Worker) -> threading.Thread:
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    return thread


def _settings(**changes: Any) -> Settings:
    return Settings(**{"MIDDLEWARE": (), "RETRY_JITTER": 0.0, **changes})


def test_a_reader_sees_the_progress_of_a_task_while_it_runs_and_its_record_keeps_the_last() -> None:
    backend = MemoryBackend()
    job = import_rows.build_job((4,), {})
    backend.enqueue_many([job])
    thread = _start(Worker(_settings(), "work", backend=backend, burst=True))

    assert REPORTED.wait(30)
    view = backend.job(job.id)
    assert view is not None
    assert view.progress == {"done": 2, "total": 4}
    GO_ON.set()
    thread.join(30)

    record = backend.result(job.id)
    assert record is not None
    assert (record.return_value, record.progress) == ("imported", {"done": 4, "total": 4})
    assert KEPT == [True, True]


def test_dqueue_job_shows_the_progress_of_a_job_in_flight(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("DQUEUE_BACKEND", "sqlite")
    monkeypatch.setenv("DQUEUE_SQLITE_PATH", str(tmp_path / "queue.sqlite3"))
    monkeypatch.setenv("DQUEUE_MIDDLEWARE", "[]")
    handle = import_rows(10)
    thread = _start(Worker(get_settings(), "work", burst=True))
    assert REPORTED.wait(30)

    assert main(["job", handle.id]) == 0
    text = capsys.readouterr().out
    assert main(["job", handle.id, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert main(["jobs", "work", "--state", "in-flight"]) == 0
    listed = capsys.readouterr().out
    GO_ON.set()
    thread.join(30)

    assert 'progress:    {"done": 5, "total": 10}' in text.splitlines()
    assert data["progress"] == {"done": 5, "total": 10}
    assert data["result"]["progress"] == {"done": 5, "total": 10}
    assert listed.splitlines()[2].endswith('{"done": 5, "total": 10}')
    assert main(["job", handle.id]) == 0
    assert 'progress:    {"done": 10, "total": 10}' in capsys.readouterr().out.splitlines()


def test_set_progress_outside_a_running_task_is_refused_saying_where_it_belongs() -> None:
    with pytest.raises(NoCurrentJob, match="reports the progress of a running task"):
        dqueue.set_progress(0.5)


_NOT_SMALL_JSON = pytest.mark.parametrize(
    ("progress", "problem"),
    [
        (object(), "the progress is not JSON-serialisable"),
        ({"rows": (1, 2)}, "the progress holds a tuple"),
        ("x" * MAX_PROGRESS_BYTES, "more than the 4,096 kept"),
    ],
    ids=["object", "tuple", "too-big"],
)


@_NOT_SMALL_JSON
def test_progress_that_is_not_a_small_json_value_fails_the_task_in_a_worker(
    progress: Any, problem: str
) -> None:
    backend = MemoryBackend()
    job = report.build_job((0,), {}).with_changes(max_attempts=1)
    backend.enqueue_many([job])
    PROGRESS["value"] = progress

    Worker(_settings(), "work", backend=backend, burst=True).run()

    record = backend.result(job.id)
    assert record is not None
    assert len(record.failures) == 1
    assert record.failures[0].exception_type == "dqueue.errors.EncodeError"
    assert problem in record.failures[0].message
    assert "xxxx" not in record.failures[0].message  # never the value itself


@_NOT_SMALL_JSON
def test_progress_that_is_not_a_small_json_value_fails_the_task_inline(
    progress: Any, problem: str
) -> None:
    configure(BACKEND="synchronous")
    PROGRESS["value"] = progress

    with pytest.raises(EncodeError) as refused:
        report(0)

    assert problem in str(refused.value)
    assert "xxxx" not in str(refused.value)


def test_inline_the_last_progress_is_kept_in_the_result_record() -> None:
    backend = SynchronousBackend.from_settings(get_settings())
    PROGRESS["value"] = {"done": 1}
    job = report.build_job((0,), {})

    backend.enqueue_many([job])

    record = backend.result(job.id)
    assert record is not None
    assert (record.return_value, record.progress) == (True, {"done": 1})


def test_inline_a_job_that_keeps_no_result_keeps_no_progress() -> None:
    configure(BACKEND="synchronous")

    report_without_result({"done": 1})

    assert KEPT == [False]


def test_a_store_that_keeps_no_progress_lets_the_task_go_on() -> None:
    backend = FailingBackend(MemoryBackend())  # it offers no JobProgress
    job = report_without_result.build_job(({"done": 1},), {})
    backend.enqueue_many([job])

    assert Worker(_settings(), "work", backend=backend, burst=True).run() == EXIT_OK

    assert KEPT == [False]
    assert backend.counts("work").in_flight == 0


class _ProgressDown(MemoryBackend):
    """A store whose progress writes fail as a lost connection does."""

    def set_progress(self, job: Job, progress: Any, *, worker_id: str) -> bool:
        raise BackendUnavailable("the store is down")


def test_a_progress_the_store_fails_to_keep_is_logged_and_the_task_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    backend = _ProgressDown()
    job = report_without_result.build_job(({"done": 1},), {}).with_changes(result_ttl=60.0)
    backend.enqueue_many([job])

    with caplog.at_level(logging.WARNING, logger="dqueue.execution"):
        Worker(_settings(), "work", backend=backend, burst=True).run()

    assert KEPT == [False]
    record = backend.result(job.id)
    assert record is not None
    assert record.status is JobStatus.SUCCEEDED
    assert any("was not kept: the store is down" in r.getMessage() for r in caplog.records)
