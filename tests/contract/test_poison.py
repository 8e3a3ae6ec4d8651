"""Contract: a payload that is not a valid envelope, written straight into the store, goes to the
dead letters alone, with a reason naming the problem, in the reserve that meets it; the good
jobs around it run and settle as usual, and nothing comes back."""

from __future__ import annotations

import pytest

from dqueue.backends.base import Backend, Outcome, OutcomeKind
from dqueue.clock import ManualClock
from dqueue.failures import FailureKind
from tests.contract.conftest import MakeJob
from tests.contract.helpers import WORKER, failure
from tests.support.poison import POISON, REASONS, SECRET, inject, poison_payload


def _reasons(kind: str) -> tuple[str, ...]:
    reason = REASONS[kind]
    return reason if isinstance(reason, tuple) else (reason,)


@pytest.mark.parametrize("kind", sorted(POISON))
def test_poison_is_dead_lettered_alone_and_its_batch_mates_run(
    backend: Backend, make_job: MakeJob, clock: ManualClock, kind: str
) -> None:
    first, second = make_job(), make_job()
    backend.enqueue(first)
    inject(backend, "default", "poisoned-1", poison_payload(kind, "poisoned-1", "default"))
    backend.enqueue(second)

    reserved = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=10)

    assert sorted(job.id for job in reserved) == sorted([first.id, second.id])
    acks = [Outcome(job=job, kind=OutcomeKind.ACK) for job in reserved]
    assert backend.settle(acks, worker_id=WORKER) == []
    [letter] = backend.dead_letters("default")
    assert letter.raw is not None
    assert letter.failure.exception_type == FailureKind.UNDECODABLE
    assert any(reason in letter.failure.message for reason in _reasons(kind))
    assert SECRET not in letter.failure.message
    counts = backend.counts("default")
    assert (counts.ready, counts.delayed, counts.in_flight, counts.dead) == (0, 0, 0, 1)


@pytest.mark.parametrize("kind", sorted(POISON))
def test_poison_never_comes_back(backend: Backend, clock: ManualClock, kind: str) -> None:
    inject(backend, "default", "poisoned-1", poison_payload(kind, "poisoned-1", "default"))

    assert backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=10) == []
    clock.advance(3600)  # past any lease
    backend.recover()

    assert backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=10) == []
    assert backend.retry_dead("default") == 0  # nothing to run: the letter stays as it is
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=10) == []
    assert backend.counts("default").dead == 1


def test_every_kind_of_poison_in_one_batch_leaves_the_good_jobs_alone(
    backend: Backend, make_job: MakeJob
) -> None:
    good = []
    for number, kind in enumerate(sorted(POISON)):
        job = make_job()
        good.append(job.id)
        backend.enqueue(job)
        job_id = f"poisoned-{number}"
        inject(backend, "default", job_id, poison_payload(kind, job_id, "default"))

    reserved = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=100)

    assert sorted(job.id for job in reserved) == sorted(good)
    outcomes = [Outcome(job=job, kind=OutcomeKind.ACK) for job in reserved]
    assert backend.settle(outcomes, worker_id=WORKER) == []
    assert backend.counts("default").dead == len(POISON)
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=100) == []
    assert backend.counts("default").total == 0


def test_an_outcome_no_store_can_write_is_dead_lettered_alone_and_the_others_settle(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    jobs = [make_job(), make_job(result_ttl=60), make_job(max_attempts=3), make_job()]
    backend.enqueue_many(jobs)
    first, keeps_result, retried, last = sorted(
        backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=10),
        key=lambda job: [j.id for j in jobs].index(job.id),
    )
    lone_surrogate = failure(f"{SECRET} \udcff")
    outcomes = [
        Outcome(job=first, kind=OutcomeKind.ACK),
        Outcome(job=keeps_result, kind=OutcomeKind.ACK, result=object()),
        Outcome(job=retried, kind=OutcomeKind.RETRY, run_after=0.0, failure=lone_surrogate),
        Outcome(job=last, kind=OutcomeKind.ACK),
    ]

    assert backend.settle(outcomes, worker_id=WORKER) == []

    letters = {letter.job.id: letter for letter in backend.dead_letters("default")}
    assert sorted(letters) == sorted([keeps_result.id, retried.id])
    for letter in letters.values():
        assert letter.failure.exception_type == FailureKind.UNSTORABLE
        assert SECRET not in letter.failure.message
    assert "return value" in letters[keeps_result.id].failure.message
    assert "failure's message" in letters[retried.id].failure.message
    counts = backend.counts("default")
    assert (counts.total, counts.dead) == (0, 2)
    assert backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=10) == []
