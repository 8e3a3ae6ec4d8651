"""dqueue.ops on single jobs, against the memory store: list, find, cancel, reschedule."""

from __future__ import annotations

import time

import pytest

from dqueue import configure, get_backend, ops, task
from dqueue.backends.base import JobStatus
from dqueue.backends.inspection import JobState
from dqueue.backends.memory import MemoryBackend
from dqueue.errors import InvalidTime, JobNotFound, UnsupportedOperation, UsageError
from dqueue.execution import decide, execute
from dqueue.settings import get_settings

MEMORY = "dqueue.backends.memory.MemoryBackend"


@task(queue="mail", max_attempts=1)
def send(to: str) -> str:
    return to


@task(queue="mail", max_attempts=1)
def fails() -> None:
    raise ValueError("bad input")


@pytest.fixture
def memory() -> MemoryBackend:
    configure(BACKEND=MEMORY)
    backend = get_backend("mail")
    assert isinstance(backend, MemoryBackend)
    return backend


def delayed(*seconds: float) -> list[str]:
    return [send.using(delay=delay).enqueue(f"{delay}@example.com").id for delay in seconds]


def test_delayed_jobs_are_listed_earliest_first_a_page_at_a_time(memory: MemoryBackend) -> None:
    later, sooner, soonest = delayed(300, 200, 100)

    first = ops.list_jobs(get_settings(), "mail", JobState.DELAYED, limit=2)
    second = ops.list_jobs(get_settings(), "mail", JobState.DELAYED, limit=2, cursor=first.cursor)

    assert [view.job.id for view in first.views] == [soonest, sooner]
    assert [view.job.id for view in second.views] == [later]
    assert second.cursor is None


def test_a_cursor_the_store_never_gave_is_a_usage_error(memory: MemoryBackend) -> None:
    with pytest.raises(UsageError, match="not a cursor of the delayed jobs of queue 'mail'"):
        ops.list_jobs(get_settings(), "mail", JobState.DELAYED, cursor="page-2")


def test_a_job_is_found_by_id_alone(memory: MemoryBackend) -> None:
    [job_id] = delayed(60)

    detail = ops.find_job(get_settings(), job_id)

    assert detail.view is not None
    assert (detail.view.state, detail.view.job.args) == (JobState.DELAYED, ("60@example.com",))
    assert detail.result is None


def test_a_job_is_found_in_the_store_of_a_queue_override() -> None:
    # Two paths to the memory store are two stores.
    configure(BACKEND="memory", BACKEND_OVERRIDES={"mail": MEMORY})
    job_id = send.enqueue("ann@example.com").id
    assert get_backend("mail") is not get_backend("default")

    detail = ops.find_job(get_settings(), job_id)

    assert detail.view is not None
    assert detail.view.state is JobState.READY


def test_a_finished_job_is_found_by_its_result_record(memory: MemoryBackend) -> None:
    job_id = send.using(result_ttl=60).enqueue("ann@example.com").id
    [job] = memory.reserve("mail", worker_id="w", timeout_s=0)
    memory.settle([decide(execute(job, worker_id="w"), get_settings())], worker_id="w")

    detail = ops.find_job(get_settings(), job_id)

    assert detail.view is None
    assert detail.result is not None
    assert (detail.result.status, detail.result.return_value) == (
        JobStatus.SUCCEEDED,
        "ann@example.com",
    )


def test_an_unknown_id_is_not_found(memory: MemoryBackend) -> None:
    with pytest.raises(JobNotFound, match="no job with the id 'nope' is stored"):
        ops.find_job(get_settings(), "nope")


def test_a_store_that_cannot_inspect_jobs_is_refused() -> None:
    configure(BACKEND="synchronous")

    with pytest.raises(UnsupportedOperation, match="cannot list or change single jobs"):
        ops.find_job(get_settings(), "x")


def test_cancelling_says_which_ids_were_cancelled_and_why_others_were_not(
    memory: MemoryBackend,
) -> None:
    [waiting] = delayed(60)
    dead = fails.enqueue().id
    [job] = memory.reserve("mail", worker_id="w", timeout_s=0)
    memory.settle([decide(execute(job, worker_id="w"), get_settings())], worker_id="w")

    change = ops.cancel_jobs(get_settings(), [waiting, dead, "nope", waiting])

    assert change.changed == (waiting,)
    assert {job_id: view and view.state for job_id, view in change.missed.items()} == {
        dead: JobState.DEAD,
        "nope": None,
    }
    assert ops.find_job(get_settings(), dead).view is not None
    with pytest.raises(JobNotFound):
        ops.find_job(get_settings(), waiting)


def test_a_job_in_flight_cancelled_twice_is_refused_the_second_time_saying_why(
    memory: MemoryBackend,
) -> None:
    job_id = send.enqueue("ann@example.com").id
    memory.reserve("mail", worker_id="w", timeout_s=0)

    assert ops.cancel_jobs(get_settings(), [job_id]).changed == (job_id,)
    again = ops.cancel_jobs(get_settings(), [job_id])

    with pytest.raises(JobNotFound, match=r"\(in-flight, already cancelled\)"):
        again.check_all_changed()


def test_run_now_makes_a_delayed_job_ready(memory: MemoryBackend) -> None:
    [job_id] = delayed(3600)

    change = ops.reschedule_jobs(get_settings(), [job_id])

    assert (change.changed, change.run_at) == ((job_id,), None)
    [view] = ops.list_jobs(get_settings(), "mail", JobState.READY).views
    assert view.job.id == job_id


def test_a_job_can_be_moved_later_by_a_duration(memory: MemoryBackend) -> None:
    [job_id] = delayed(60)
    before = time.time()

    change = ops.reschedule_jobs(get_settings(), [job_id], delay="2h")

    view = ops.find_job(get_settings(), job_id).view
    assert view is not None
    assert change.run_at is not None
    assert view.due_at == change.run_at.timestamp()
    assert 7200 <= view.due_at - before < 7260


def test_a_job_in_flight_is_not_rescheduled(memory: MemoryBackend) -> None:
    job_id = send.enqueue("ann@example.com").id
    memory.reserve("mail", worker_id="w", timeout_s=0)

    change = ops.reschedule_jobs(get_settings(), [job_id])

    assert [view and view.state for view in change.missed.values()] == [JobState.IN_FLIGHT]


def test_a_reschedule_to_a_past_time_is_refused(memory: MemoryBackend) -> None:
    with pytest.raises(InvalidTime, match="in the past"):
        ops.reschedule_jobs(get_settings(), ["x"], at="2001-01-01T00:00:00+00:00")
