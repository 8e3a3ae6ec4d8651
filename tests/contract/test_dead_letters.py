"""Contract: the dead letters (listing, retrying, purging, the cap)."""

from __future__ import annotations

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from dqueue.job import Job
from tests.contract.conftest import MakeBackend, MakeJob
from tests.contract.helpers import WORKER, failure, require_queue_wide_order, take_one
from tests.support.settling import dead, retry


def _bury(backend: Backend, jobs: list[Job]) -> None:
    backend.enqueue_many(jobs)
    for job in jobs:
        reserved = take_one(backend, job.queue)
        assert dead(backend, reserved, worker_id=WORKER, failure=failure(f"failed {job.id}"))


def test_dead_letters_are_listed_newest_first(backend: Backend, make_job: MakeJob) -> None:
    require_queue_wide_order(backend)
    jobs = [make_job() for _ in range(3)]
    _bury(backend, jobs)

    letters = backend.dead_letters("default")

    assert [letter.job.id for letter in letters] == [job.id for job in reversed(jobs)]
    assert [letter.failure.message for letter in letters] == [
        f"failed {job.id}" for job in reversed(jobs)
    ]


def test_dead_letters_listing_honours_its_limit(backend: Backend, make_job: MakeJob) -> None:
    require_queue_wide_order(backend)
    jobs = [make_job() for _ in range(4)]
    _bury(backend, jobs)

    assert [letter.job.id for letter in backend.dead_letters("default", limit=2)] == [
        jobs[3].id,
        jobs[2].id,
    ]


def test_dead_letters_keep_only_the_newest_up_to_the_limit(
    make_backend: MakeBackend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend = make_backend(clock=clock, DEAD_LETTER_LIMIT=3)
    require_queue_wide_order(backend)
    jobs = [make_job() for _ in range(5)]
    _bury(backend, jobs)

    assert [letter.job.id for letter in backend.dead_letters("default")] == [
        job.id for job in reversed(jobs[2:])
    ]
    assert backend.counts("default").dead == 3


def test_a_retried_dead_letter_is_due_when_it_was_retried(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    _bury(backend, [make_job()])
    clock.advance(86400)  # a day among the dead letters is not lateness

    assert backend.retry_dead("default") == 1

    assert take_one(backend).due_at == clock.time()


def test_retry_dead_puts_every_dead_letter_back_with_fresh_attempts(
    backend: Backend, make_job: MakeJob
) -> None:
    jobs = [make_job(max_attempts=2) for _ in range(2)]
    _bury(backend, jobs)

    assert backend.retry_dead("default") == 2

    assert backend.dead_letters("default") == []
    again = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=5)
    assert sorted((job.id, job.attempt) for job in again) == [(job.id, 1) for job in jobs]


def test_retry_dead_of_chosen_ids_leaves_the_others(backend: Backend, make_job: MakeJob) -> None:
    first, second = make_job(), make_job()
    _bury(backend, [first, second])

    assert backend.retry_dead("default", [second.id, "no-such-job"]) == 1

    assert [letter.job.id for letter in backend.dead_letters("default")] == [first.id]
    assert take_one(backend).id == second.id


def test_purge_dead_deletes_every_dead_letter(backend: Backend, make_job: MakeJob) -> None:
    _bury(backend, [make_job(), make_job()])

    assert backend.purge_dead("default") == 2

    assert backend.dead_letters("default") == []
    assert backend.counts("default").dead == 0


def test_purge_dead_of_chosen_ids_leaves_the_others(backend: Backend, make_job: MakeJob) -> None:
    first, second = make_job(), make_job()
    _bury(backend, [first, second])

    assert backend.purge_dead("default", [first.id, "no-such-job"]) == 1

    assert [letter.job.id for letter in backend.dead_letters("default")] == [second.id]


def test_dead_letters_are_kept_per_queue(backend: Backend, make_job: MakeJob) -> None:
    mail = make_job(queue="mail")
    _bury(backend, [mail, make_job(queue="reports")])

    assert [letter.job.id for letter in backend.dead_letters("mail")] == [mail.id]


def test_a_dead_letter_keeps_the_attempt_it_died_on(backend: Backend, make_job: MakeJob) -> None:
    job = make_job(max_attempts=3)
    backend.enqueue(job)
    first = take_one(backend, job.queue)
    assert retry(backend, first, worker_id=WORKER, run_after=0.0, failure=failure(attempt=1))
    second = take_one(backend, job.queue)
    assert second.attempt == 2
    assert dead(backend, second, worker_id=WORKER, failure=failure(attempt=2))

    [letter] = backend.dead_letters(job.queue)

    assert letter.job.attempt == 2
    assert letter.failure.attempt == 2
