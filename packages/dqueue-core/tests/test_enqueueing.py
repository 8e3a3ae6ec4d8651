"""Sending jobs: an enqueue that fails with the store unreachable may have stored the job."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from dqueue import enqueueing, task
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.memory import MemoryBackend
from dqueue.errors import BackendUnavailable
from dqueue.job import Job, new_job_id


@task(queue="sends")
def send_mail(to: str) -> None:
    """A task to enqueue; never run here."""


class _StoredThenTimedOut(MemoryBackend):
    """Stores the jobs, then reports a timeout, as a store that froze before answering does."""

    timing_out = True

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        ids = super().enqueue_many(jobs)
        if self.timing_out:
            raise BackendUnavailable("the store did not answer in time")
        return ids


@pytest.fixture
def store(monkeypatch: pytest.MonkeyPatch) -> _StoredThenTimedOut:
    backend = _StoredThenTimedOut()
    monkeypatch.setattr(enqueueing, "get_backend", lambda queue: backend)
    return backend


def test_a_failed_enqueue_names_the_job_that_may_have_been_stored(
    store: _StoredThenTimedOut,
) -> None:
    job_id = new_job_id()

    with pytest.raises(BackendUnavailable) as raised:
        send_mail.using(job_id=job_id)("a@example.com")

    assert f"job {job_id} may have been stored" in str(raised.value)
    assert "cannot create a second job" in str(raised.value)
    assert isinstance(raised.value.__cause__, BackendUnavailable)


def test_a_failed_batch_names_its_jobs(store: _StoredThenTimedOut) -> None:
    jobs = [send_mail.using(job_id=new_job_id()).build_job(("a@example.com",), {}) for _ in "12345"]

    with pytest.raises(BackendUnavailable) as raised:
        enqueueing.send(jobs)

    named = ", ".join(job.id for job in jobs[:3])
    assert f"jobs {named} and 2 more may have been stored" in str(raised.value)


def test_retrying_a_failed_enqueue_with_its_id_after_the_job_ran_runs_nothing_twice(
    store: _StoredThenTimedOut,
) -> None:
    job_id = new_job_id()
    with pytest.raises(BackendUnavailable):
        send_mail.using(job_id=job_id)("a@example.com")
    [job] = store.reserve("sends", worker_id="w", timeout_s=0)
    store.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id="w")
    store.timing_out = False

    assert send_mail.using(job_id=job_id)("a@example.com").id == job_id

    assert store.reserve("sends", worker_id="w", timeout_s=0) == []
