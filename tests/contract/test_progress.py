"""Contract: the progress a running task reports, kept with its run and in its result record.

Every store that offers :class:`~dqueue.backends.inspection.JobProgress` keeps what the module
docstring of :mod:`dqueue.backends.inspection` promises; a store that does not is reported as
skipped, with the reason.
"""

from __future__ import annotations

import pytest

from dqueue.backends.base import Backend
from dqueue.backends.inspection import JobInspection, JobProgress, JobState, inspection_of
from dqueue.clock import ManualClock
from dqueue.errors import EncodeError
from dqueue.json_values import MAX_PROGRESS_BYTES
from dqueue.settings import Settings
from tests.contract.conftest import MakeJob
from tests.contract.helpers import OTHER_WORKER, WORKER, failure, require, take_one
from tests.support.settling import ack, release, retry


@pytest.fixture
def store(backend: Backend) -> JobProgress:
    """The backend as :class:`JobProgress`; the test is skipped when it does not offer it."""
    if not isinstance(backend, JobProgress):
        pytest.skip(f"{type(backend).__name__} does not implement JobProgress")
    return backend


@pytest.fixture
def reader(backend: Backend) -> JobInspection:
    """The backend as :class:`JobInspection`, which shows the progress."""
    if not isinstance(backend, JobInspection):
        pytest.skip(f"{type(backend).__name__} does not implement JobInspection")
    return inspection_of(backend)


def _progress(reader: JobInspection, job_id: str) -> object:
    view = reader.job(job_id)
    assert view is not None
    return view.progress


def test_the_progress_of_a_job_in_flight_is_seen_by_id_and_in_the_listing(
    backend: Backend, store: JobProgress, reader: JobInspection, make_job: MakeJob
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job())
    running = take_one(backend)

    assert store.set_progress(running, {"done": 3, "total": 10}, worker_id=WORKER) is True

    assert _progress(reader, running.id) == {"done": 3, "total": 10}
    listed = reader.jobs("default", JobState.IN_FLIGHT).views
    assert [view.progress for view in listed] == [{"done": 3, "total": 10}]


def test_a_job_in_flight_that_reported_nothing_shows_no_progress(
    backend: Backend, store: JobProgress, reader: JobInspection, make_job: MakeJob
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job())
    running = take_one(backend)

    assert _progress(reader, running.id) is None
    assert [view.progress for view in reader.jobs("default", JobState.IN_FLIGHT).views] == [None]


def test_a_later_progress_replaces_the_earlier_one(
    backend: Backend, store: JobProgress, reader: JobInspection, make_job: MakeJob
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job())
    running = take_one(backend)

    store.set_progress(running, 0.25, worker_id=WORKER)
    store.set_progress(running, "almost there", worker_id=WORKER)

    assert _progress(reader, running.id) == "almost there"


def test_a_worker_that_does_not_hold_the_job_cannot_set_its_progress(
    backend: Backend, store: JobProgress, reader: JobInspection, make_job: MakeJob
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job(result_ttl=600.0))
    running = take_one(backend)

    assert store.set_progress(running, 0.5, worker_id=OTHER_WORKER) is False

    assert _progress(reader, running.id) is None
    record = backend.result(running.id)
    assert record is not None
    assert record.progress is None


def test_a_job_that_is_not_running_gets_no_progress(
    backend: Backend, store: JobProgress, make_job: MakeJob
) -> None:
    job = make_job(result_ttl=600.0)
    backend.enqueue(job)

    assert store.set_progress(job.with_changes(attempt=1), 0.5, worker_id=WORKER) is False

    if backend.supports_results:
        record = backend.result(job.id)
        assert record is not None
        assert record.progress is None


def test_the_result_record_keeps_the_last_progress_after_the_job_finishes(
    backend: Backend, store: JobProgress, make_job: MakeJob
) -> None:
    require(backend, "supports_results")
    backend.enqueue(make_job(result_ttl=600.0))
    running = take_one(backend)
    store.set_progress(running, {"step": 1}, worker_id=WORKER)

    assert store.set_progress(running, {"step": 2}, worker_id=WORKER) is True
    running_record = backend.result(running.id)
    assert ack(backend, running, worker_id=WORKER, result="done") is True

    record = backend.result(running.id)
    assert running_record is not None
    assert running_record.progress == {"step": 2}
    assert record is not None
    assert (record.return_value, record.progress) == ("done", {"step": 2})


def test_a_retried_job_waits_without_the_progress_of_its_run(
    backend: Backend,
    store: JobProgress,
    reader: JobInspection,
    make_job: MakeJob,
    clock: ManualClock,
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job(max_attempts=3))
    first = take_one(backend)
    store.set_progress(first, 0.9, worker_id=WORKER)

    retry(backend, first, worker_id=WORKER, run_after=clock.time(), failure=failure())

    assert _progress(reader, first.id) is None
    second = take_one(backend)
    assert _progress(reader, second.id) is None


def test_a_returned_job_waits_without_progress(
    backend: Backend, store: JobProgress, reader: JobInspection, make_job: MakeJob
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job())
    running = take_one(backend)
    store.set_progress(running, 0.1, worker_id=WORKER)

    assert release(backend, [running], worker_id=WORKER) == []

    assert _progress(reader, take_one(backend).id) is None


def test_a_job_whose_lease_ran_out_runs_again_without_the_old_progress(
    backend: Backend,
    store: JobProgress,
    reader: JobInspection,
    make_job: MakeJob,
    clock: ManualClock,
    settings: Settings,
) -> None:
    require(backend, "supports_leases")
    backend.enqueue(make_job(max_attempts=3))
    stuck = take_one(backend)
    store.set_progress(stuck, 0.7, worker_id=WORKER)
    clock.advance(settings.LEASE_SECONDS + 1)
    backend.recover()

    again = take_one(backend, worker_id=OTHER_WORKER)

    assert _progress(reader, again.id) is None
    assert store.set_progress(stuck, 0.8, worker_id=WORKER) is False  # the stale run's
    assert store.set_progress(again, 0.1, worker_id=OTHER_WORKER) is True
    assert _progress(reader, again.id) == 0.1


@pytest.mark.parametrize(
    ("progress", "problem"),
    [
        ({1, 2}, "not JSON-serialisable"),
        ((1, 2), "tuple"),
        (float("nan"), "not JSON-serialisable"),
        ("x" * (MAX_PROGRESS_BYTES + 1), f"more than the {MAX_PROGRESS_BYTES:,}"),
    ],
    ids=["set", "tuple", "nan", "too-big"],
)
def test_progress_that_is_not_a_small_json_value_is_refused_by_name(
    backend: Backend, store: JobProgress, make_job: MakeJob, progress: object, problem: str
) -> None:
    backend.enqueue(make_job())
    running = take_one(backend)

    with pytest.raises(EncodeError, match="the progress") as refused:
        store.set_progress(running, progress, worker_id=WORKER)

    assert problem in str(refused.value)
    assert "xxxx" not in str(refused.value)  # the value itself is never quoted
