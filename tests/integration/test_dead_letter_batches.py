"""Retrying or purging all of a queue's dead letters goes in batches, the same on every store."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from dqueue.backends import Backend, get_backend
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.job import Job, JobFailure, new_job_id
from dqueue.ops import actions
from dqueue.settings import Settings
from dqueue.testing import clean_settings
from tests.support.backends import UNAVAILABLE_BACKENDS

QUEUE = "letters"
Act = Callable[..., actions.DeadLetterChange]


@pytest.fixture(params=["memory", "sqlite", "redis", "reliable_redis"])
def settings(request: pytest.FixtureRequest, tmp_path: object) -> Iterator[Settings]:
    name = str(request.param)
    if name in UNAVAILABLE_BACKENDS:
        pytest.skip(UNAVAILABLE_BACKENDS[name])
    extra: dict[str, object] = {"SQLITE_PATH": f"{tmp_path}/queue.sqlite3"}
    if "redis" in name:
        from tests.support.redis_server import shared_server, unique_prefix

        extra |= {"REDIS_URL": shared_server().url, "REDIS_PREFIX": unique_prefix()}
    with clean_settings(BACKEND=name, **extra) as effective:
        yield effective


def _bury(backend: Backend, count: int) -> None:
    """``count`` dead letters, settled in one call: they share their time of death."""
    backend.enqueue_many([Job(id=new_job_id(), task="t.gone", queue=QUEUE) for _ in range(count)])
    reserved = backend.reserve(QUEUE, worker_id="w", timeout_s=0, limit=count)
    failure = JobFailure.from_reason("t.Error", "failed", at=backend.clock.time(), attempt=1)
    dead = [Outcome(job=job, kind=OutcomeKind.DEAD, failure=failure) for job in reserved]
    backend.settle(dead, worker_id="w")
    assert backend.counts(QUEUE).dead == count


@pytest.mark.parametrize("act", [actions.retry_dead, actions.purge_dead])
def test_every_dead_letter_is_taken_a_batch_at_a_time_with_progress(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, act: Act
) -> None:
    backend = get_backend(QUEUE, settings=settings)
    _bury(backend, 8)
    monkeypatch.setattr(actions, "BATCH", 3)
    told: list[tuple[int, int]] = []

    def tell(done: int, total: int) -> None:
        told.append((done, total))

    change = act(settings, QUEUE, None, progress=tell)

    assert change.count == 8
    assert told == [(3, 8), (6, 8), (8, 8)]
    counts = backend.counts(QUEUE)
    assert counts.dead == 0
    assert counts.ready == (8 if act is actions.retry_dead else 0)
