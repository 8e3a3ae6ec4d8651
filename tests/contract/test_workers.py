"""Contract: live workers beat into their store, readers list the living.

Every store that offers :class:`~dqueue.backends.workers.WorkerRegistry` keeps what its module
docstring promises; a store that does not is reported as skipped, with the reason. Stores that
expire beats by their server's own clock (Redis's key TTL) ignore the injected clock: the test
that moves a :class:`ManualClock` past a ttl is skipped for them, and the one with a short real
ttl covers expiry on every store.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dqueue.backends.base import Backend
from dqueue.backends.workers import WorkerBeat, WorkerRegistry, registry_of
from dqueue.clock import ManualClock
from dqueue.testing import wait_for

#: Long enough that no beat of a test expires while the test runs, on any machine.
LONG_TTL_S = 3600.0


def _registry(backend: Backend) -> WorkerRegistry:
    """``backend`` as a registry; the test is skipped when it keeps no record of workers."""
    if not isinstance(backend, WorkerRegistry):
        pytest.skip(f"{type(backend).__name__} does not implement WorkerRegistry")
    return registry_of(backend)


@pytest.fixture
def registry(backend: Backend) -> WorkerRegistry:
    return _registry(backend)


def _expires_by_server_time(backend_name: str) -> bool:
    """Redis drops a beat with the key's TTL, on the server's clock, not the injected one."""
    return "redis" in backend_name


def beat(
    name: str = "default/0",
    *,
    queue: str = "default",
    host: str = "web-1",
    pid: int = 100,
    **fields: Any,
) -> WorkerBeat:
    """A beat of an idle worker whose id derives from its host, pid and name."""
    sent = WorkerBeat(
        worker_id=f"{host}:{pid}:{name}",
        name=name,
        queue=queue,
        host=host,
        pid=pid,
        started_at=1_764_230_000.0,
    )
    return dataclasses.replace(sent, **fields)


def _without_time(beats: list[WorkerBeat]) -> list[WorkerBeat]:
    """The beats as sent: ``beat_at`` is the store's to fill in."""
    return [dataclasses.replace(one, beat_at=0.0) for one in beats]


def _ids(beats: list[WorkerBeat]) -> list[str]:
    return [one.worker_id for one in beats]


def test_a_beat_is_listed_with_everything_the_worker_said(registry: WorkerRegistry) -> None:
    sent = beat(
        job_id="job-1",
        job_task="app.tasks.send",
        job_started_at=1_764_230_100.5,
        processed=12,
        failed=3,
    )

    registry.beat(sent, ttl_s=LONG_TTL_S)

    assert _without_time(registry.workers()) == [sent]


def test_an_idle_worker_is_listed_with_no_job(registry: WorkerRegistry) -> None:
    registry.beat(beat(), ttl_s=LONG_TTL_S)

    (listed,) = registry.workers()
    assert (listed.job_id, listed.job_task, listed.job_started_at) == (None, None, None)
    assert (listed.processed, listed.failed) == (0, 0)


def test_a_beat_carries_the_time_the_store_received_it(
    registry: WorkerRegistry, backend_name: str, clock: ManualClock
) -> None:
    registry.beat(beat(beat_at=12.0), ttl_s=LONG_TTL_S)

    (listed,) = registry.workers()
    if _expires_by_server_time(backend_name):
        assert listed.beat_at > 12.0  # the server's time, which the test can't know
    else:
        assert listed.beat_at == clock.time()


def test_a_second_beat_replaces_the_first(registry: WorkerRegistry, clock: ManualClock) -> None:
    registry.beat(beat(job_id="job-1", job_task="app.a", job_started_at=1.0), ttl_s=LONG_TTL_S)
    clock.advance(5)
    second = beat(processed=1)

    registry.beat(second, ttl_s=LONG_TTL_S)

    assert _without_time(registry.workers()) == [second]


def test_a_worker_that_moves_to_another_queue_is_listed_only_there(
    registry: WorkerRegistry,
) -> None:
    registry.beat(beat(queue="emails"), ttl_s=LONG_TTL_S)
    moved = beat(queue="reports")

    registry.beat(moved, ttl_s=LONG_TTL_S)

    assert registry.workers(["emails"]) == []
    assert _without_time(registry.workers(["reports"])) == [moved]
    assert len(registry.workers()) == 1


def test_a_worker_drops_out_when_its_beats_stop(
    registry: WorkerRegistry, backend_name: str, clock: ManualClock
) -> None:
    if _expires_by_server_time(backend_name):
        pytest.skip("expires beats by the server's clock; the real-ttl test covers it")
    registry.beat(beat(), ttl_s=15)

    clock.advance(14)
    assert len(registry.workers()) == 1
    clock.advance(2)
    assert registry.workers() == []


def test_each_beat_keeps_a_worker_alive_for_the_ttl_it_gives(
    registry: WorkerRegistry, backend_name: str, clock: ManualClock
) -> None:
    if _expires_by_server_time(backend_name):
        pytest.skip("expires beats by the server's clock; the real-ttl test covers it")
    registry.beat(beat(), ttl_s=15)
    clock.advance(10)
    registry.beat(beat(), ttl_s=15)

    clock.advance(10)
    assert len(registry.workers()) == 1
    clock.advance(10)
    assert registry.workers() == []


def test_a_worker_drops_out_after_a_short_real_ttl(real_backend: Backend) -> None:
    registry = _registry(real_backend)
    registry.beat(beat("default/0"), ttl_s=LONG_TTL_S)
    registry.beat(beat("default/1"), ttl_s=0.2)

    wait_for(
        lambda: _ids(registry.workers()) == ["web-1:100:default/0"],
        what="the worker with the short ttl to drop out",
        explain=lambda: repr(registry.workers()),
    )


def test_forget_drops_a_worker_at_once(registry: WorkerRegistry) -> None:
    staying, leaving = beat("default/0"), beat("default/1")
    registry.beat(staying, ttl_s=LONG_TTL_S)
    registry.beat(leaving, ttl_s=LONG_TTL_S)

    registry.forget(leaving.worker_id)

    assert _ids(registry.workers()) == [staying.worker_id]


def test_forgetting_an_unknown_worker_changes_nothing(registry: WorkerRegistry) -> None:
    registry.beat(beat(), ttl_s=LONG_TTL_S)

    registry.forget("elsewhere:1:nobody")

    assert len(registry.workers()) == 1


def test_a_forgotten_worker_that_beats_again_is_listed_again(registry: WorkerRegistry) -> None:
    registry.beat(beat(), ttl_s=LONG_TTL_S)
    registry.forget(beat().worker_id)

    registry.beat(beat(processed=2), ttl_s=LONG_TTL_S)

    assert [one.processed for one in registry.workers()] == [2]


def test_workers_are_filtered_by_queue(registry: WorkerRegistry) -> None:
    for queue in ("emails", "reports", "default"):
        registry.beat(beat(f"{queue}/0", queue=queue), ttl_s=LONG_TTL_S)

    assert [one.queue for one in registry.workers(["emails"])] == ["emails"]
    assert [one.queue for one in registry.workers(["reports", "emails"])] == ["emails", "reports"]
    assert registry.workers(["nobody-serves-this"]) == []
    assert registry.workers([]) == []
    assert len(registry.workers()) == 3


def test_workers_are_ordered_by_queue_host_pid_and_name(registry: WorkerRegistry) -> None:
    expected = [
        beat("a/0", queue="a", host="web-2", pid=1),
        beat("b/0", queue="b", host="web-1", pid=9),
        beat("b/0", queue="b", host="web-1", pid=10),  # numbers, not strings: 9 before 10
        beat("b/1", queue="b", host="web-1", pid=10),
        beat("b/0", queue="b", host="web-2", pid=3),
    ]
    for one in reversed(expected):
        registry.beat(one, ttl_s=LONG_TTL_S)

    assert _without_time(registry.workers()) == expected


def test_hostile_values_are_stored_and_returned_exactly(registry: WorkerRegistry) -> None:
    hostile = "\x00\x1b[31mred\r\n\t\"quoted\" 'single' \\ %s {} ; DROP TABLE workers; -- ünï ✓"
    sent = beat(
        f"q/{hostile}",
        queue=f"queue {hostile}",
        host=f"host {hostile}",
        job_id=f"job {hostile}",
        job_task=f"task {hostile}",
        job_started_at=1.0,
    )

    registry.beat(sent, ttl_s=LONG_TTL_S)

    assert _without_time(registry.workers()) == [sent]
    assert _without_time(registry.workers([sent.queue])) == [sent]
    registry.forget(sent.worker_id)
    assert registry.workers() == []
