"""Contract: counts, pause and resume, clear and deduplicate."""

from __future__ import annotations

import pytest

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from tests.contract.conftest import MakeJob
from tests.contract.helpers import WORKER, failure, require, take_one
from tests.support.settling import ack, dead


def test_counts_report_jobs_in_each_state(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(), make_job(), make_job(), make_job()])
    backend.enqueue(make_job(run_after=clock.time() + 60))
    running, doomed = backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=2)
    dead(backend, doomed, worker_id=WORKER, failure=failure())

    counts = backend.counts("default")

    assert (counts.ready, counts.delayed, counts.dead) == (2, 1, 1)
    assert counts.in_flight == (1 if backend.supports_leases else 0)
    assert backend.length("default") == 3


def test_counts_see_a_delayed_job_become_ready_when_due(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_delay")
    backend.enqueue(make_job(run_after=clock.time() + 5))
    clock.advance(5)

    counts = backend.counts("default")

    assert (counts.ready, counts.delayed) == (1, 0)


def test_counts_of_an_unknown_queue_are_zero(backend: Backend) -> None:
    counts = backend.counts("nothing-here")

    assert (counts.total, counts.dead, counts.paused_until) == (0, 0, None)


def test_paused_queue_hands_out_nothing(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_pause")
    backend.enqueue(make_job())

    backend.pause("default", clock.time() + 600)

    assert backend.reserve("default", worker_id=WORKER, timeout_s=0) == []
    assert backend.paused_until("default") == clock.time() + 600
    assert backend.counts("default").paused_until == clock.time() + 600


def test_pause_of_one_queue_leaves_the_others_running(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_pause")
    backend.enqueue(make_job(queue="other"))

    backend.pause("default", clock.time() + 600)

    assert len(backend.reserve("other", worker_id=WORKER, timeout_s=0)) == 1


def test_resume_hands_out_jobs_again(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_pause")
    job = make_job()
    backend.enqueue(job)
    backend.pause("default", clock.time() + 600)

    backend.resume("default")

    assert backend.paused_until("default") is None
    assert take_one(backend).id == job.id


def test_a_timed_pause_ends_by_itself(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    require(backend, "supports_pause")
    job = make_job()
    backend.enqueue(job)
    backend.pause("default", clock.time() + 600)

    clock.advance(600)

    assert backend.paused_until("default") is None
    assert take_one(backend).id == job.id


def test_clear_deletes_waiting_jobs_and_says_how_many(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    backend.enqueue_many([make_job(), make_job(run_after=clock.time() + 60)])
    backend.enqueue(make_job(queue="other"))

    assert backend.clear("default") == 2

    assert backend.counts("default").total == 0
    assert backend.counts("other").ready == 1


def test_clear_with_a_limit_deletes_that_many_at_most_until_none_waits(
    backend: Backend, make_job: MakeJob, clock: ManualClock
) -> None:
    keyed = make_job(unique_key="sync", priority=5)
    later = [make_job(run_after=clock.time() + 60 * n) for n in range(1, 4)]
    backend.enqueue_many([keyed, *[make_job(priority=n % 3) for n in range(4)], *later])
    backend.enqueue(make_job(queue="other"))

    batches = [backend.clear("default", limit=3) for _ in range(4)]

    assert batches == [3, 3, 2, 0]
    assert backend.counts("default").total == 0
    assert backend.counts("other").ready == 1
    successor = make_job(unique_key="sync")
    assert backend.enqueue(successor) == successor.id


def test_clear_with_a_limit_leaves_jobs_in_flight(backend: Backend, make_job: MakeJob) -> None:
    require(backend, "supports_leases")
    backend.enqueue_many([make_job(), make_job(), make_job()])
    running = take_one(backend)

    assert backend.clear("default", limit=5) == 2

    assert ack(backend, running, worker_id=WORKER) is True


def test_clear_leaves_jobs_in_flight(backend: Backend, make_job: MakeJob) -> None:
    require(backend, "supports_leases")
    backend.enqueue_many([make_job(), make_job()])
    running = take_one(backend)

    assert backend.clear("default") == 1

    assert ack(backend, running, worker_id=WORKER) is True


def test_deduplicate_removes_waiting_jobs_identical_to_an_older_one(
    backend: Backend, make_job: MakeJob
) -> None:
    require(backend, "supports_dedup")
    original = make_job(args=(1,), kwargs={"to": "a"})
    twin = make_job(args=(1,), kwargs={"to": "a"})
    different = make_job(args=(2,), kwargs={"to": "a"})
    backend.enqueue_many([original, twin, different])

    assert backend.deduplicate("default") == (3, 2)

    ids = [job.id for job in backend.reserve("default", worker_id=WORKER, timeout_s=0, limit=5)]
    assert sorted(ids) == sorted([original.id, different.id])  # the older twin stayed


def test_deduplicate_tells_tasks_apart(backend: Backend, make_job: MakeJob) -> None:
    require(backend, "supports_dedup")
    backend.enqueue_many([make_job(task="app.a", args=(1,)), make_job(task="app.b", args=(1,))])

    assert backend.deduplicate("default") == (2, 2)


@pytest.mark.parametrize("verb", ["clear", "deduplicate"])
def test_control_verbs_on_an_empty_queue_change_nothing(backend: Backend, verb: str) -> None:
    require(backend, "supports_dedup")

    outcome = getattr(backend, verb)("default")

    assert outcome in (0, (0, 0))
