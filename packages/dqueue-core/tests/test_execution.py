from __future__ import annotations

from typing import Any

import pytest

from dqueue import Retry, task
from dqueue.backends.base import OutcomeKind
from dqueue.backoff import backoff_delay
from dqueue.errors import JobTimeout
from dqueue.execution import decide, execute
from dqueue.job import Job
from dqueue.settings import Settings

EVENTS: list[str] = []


@task(retry_on=(ConnectionError,))
def flaky(kind: str) -> str:
    if kind == "connection":
        raise ConnectionError("down")
    if kind == "value":
        raise ValueError("bad")
    if kind == "retry":
        raise Retry(delay=7)
    if kind == "timeout":
        raise JobTimeout("too slow")
    return "ok"


def job_for(kind: str, *, attempt: int = 1, max_attempts: int = 3) -> Job:
    return Job(id="j", task=flaky.name, args=(kind,), attempt=attempt, max_attempts=max_attempts)


SETTINGS = Settings(RETRY_BACKOFF=2.0, RETRY_BACKOFF_MAX=100.0, RETRY_JITTER=0.0)


class Recorder:
    def process_job(self, job: Job, queue: str, worker_id: str) -> None:
        EVENTS.append(f"job:{queue}:{worker_id}")

    def process_result(self, job: Job, result: Any, duration_s: float) -> None:
        EVENTS.append(f"result:{result}")

    def process_exception(self, job: Job, duration_s: float, *exc_info: Any) -> None:
        EVENTS.append(f"exception:{exc_info[0].__name__}")


class Broken:
    def process_result(self, job: Job, result: Any, duration_s: float) -> None:
        raise RuntimeError("middleware bug")


def test_a_success_is_acked_with_its_result() -> None:
    outcome = decide(execute(job_for("fine"), worker_id="w"), SETTINGS)
    assert outcome.kind is OutcomeKind.ACK
    assert outcome.result == "ok"


def test_an_exception_in_retry_on_is_retried_with_exponential_backoff() -> None:
    execution = execute(job_for("connection", attempt=2), worker_id="w")
    outcome = decide(execution, SETTINGS)
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.run_after == pytest.approx(execution.finished_at + 4.0)
    assert outcome.failure is not None
    assert outcome.failure.exception_type == "builtins.ConnectionError"


def test_an_exception_outside_retry_on_goes_straight_to_the_dead_letters() -> None:
    outcome = decide(execute(job_for("value"), worker_id="w"), SETTINGS)
    assert outcome.kind is OutcomeKind.DEAD
    assert outcome.failure is not None
    assert outcome.failure.message == "bad"


def test_the_last_attempt_goes_to_the_dead_letters() -> None:
    outcome = decide(execute(job_for("connection", attempt=3), worker_id="w"), SETTINGS)
    assert outcome.kind is OutcomeKind.DEAD


def test_retry_raised_in_a_task_asks_for_its_own_delay() -> None:
    execution = execute(job_for("retry"), worker_id="w")
    outcome = decide(execution, SETTINGS)
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.run_after == pytest.approx(execution.finished_at + 7)


def test_a_timeout_is_retried_like_a_failure() -> None:
    assert decide(execute(job_for("timeout"), worker_id="w"), SETTINGS).kind is OutcomeKind.RETRY


def test_an_unregistered_task_is_dead_lettered_with_the_reason() -> None:
    job = Job(id="j", task="nowhere.module.fn", attempt=1, max_attempts=5)
    outcome = decide(execute(job, worker_id="w"), SETTINGS)
    assert outcome.kind is OutcomeKind.DEAD
    assert outcome.failure is not None
    assert "imported at start" in outcome.failure.message


def test_a_name_that_is_not_a_task_is_refused_even_if_importable() -> None:
    job = Job(id="j", task="os.system", args=("true",), attempt=1)
    outcome = decide(execute(job, worker_id="w"), SETTINGS)
    assert outcome.kind is OutcomeKind.DEAD
    assert outcome.failure is not None
    assert "not registered" in outcome.failure.message


def test_middleware_hooks_run_in_order_around_the_task() -> None:
    EVENTS.clear()
    execute(job_for("fine"), worker_id="w1", middleware=[Recorder()])
    execute(job_for("value"), worker_id="w1", middleware=[Recorder()])
    assert EVENTS == ["job:default:w1", "result:ok", "job:default:w1", "exception:ValueError"]


def test_a_broken_middleware_hook_does_not_fail_the_job() -> None:
    assert execute(job_for("fine"), worker_id="w", middleware=[Broken()]).ok


def test_a_return_value_that_is_not_json_fails_a_job_that_keeps_results() -> None:
    @task
    def returns_a_set() -> set[int]:
        return {1}

    job = Job(id="j", task=returns_a_set.name, attempt=1, result_ttl=60)
    execution = execute(job, worker_id="w")
    assert not execution.ok
    assert "return value" in str(execution.exception)


def test_backoff_doubles_and_is_capped() -> None:
    delays = [backoff_delay(n, base_s=1, max_s=10, jitter=0) for n in range(1, 7)]
    assert delays == [1, 2, 4, 8, 10, 10]


def test_backoff_jitter_stays_within_its_fraction() -> None:
    low = backoff_delay(3, base_s=1, max_s=100, jitter=0.25, rng=lambda: 0.0)
    high = backoff_delay(3, base_s=1, max_s=100, jitter=0.25, rng=lambda: 1.0)
    assert (low, high) == (3.0, 5.0)


def test_current_job_is_the_running_job_inside_a_task_and_none_outside() -> None:
    from dqueue import current_job

    seen: list[Job | None] = []

    @task
    def introspect() -> None:
        seen.append(current_job())

    job = Job(id="me", task=introspect.name, attempt=2)
    assert execute(job, worker_id="w").ok
    assert seen == [job]
    assert current_job() is None


def test_an_async_task_is_run_to_completion_by_the_worker() -> None:
    import asyncio

    @task
    async def fetch(n: int) -> int:
        await asyncio.sleep(0)
        return n * 2

    execution = execute(Job(id="a", task=fetch.name, args=(21,), attempt=1), worker_id="w")
    assert execution.ok
    assert execution.result == 42


def test_an_async_task_that_raises_fails_like_any_other() -> None:
    @task(retry_on=(ConnectionError,))
    async def unreachable() -> None:
        raise ConnectionError("no route")

    outcome = decide(
        execute(Job(id="a", task=unreachable.name, attempt=1, max_attempts=2), worker_id="w"),
        SETTINGS,
    )
    assert outcome.kind is OutcomeKind.RETRY
    assert outcome.failure is not None
    assert outcome.failure.message == "no route"


def test_a_task_name_with_a_newline_is_logged_on_one_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from dqueue.middleware import LoggingMiddleware

    job = Job(id="j1\nFORGED", task="app.tasks.x\n2026-01-01 INFO dqueue: forged", args=())
    with caplog.at_level("DEBUG", logger="dqueue"):
        execute(job, worker_id="w1", middleware=[LoggingMiddleware()])
    messages = [record.getMessage() for record in caplog.records]
    assert messages
    assert all("\n" not in message for message in messages)
    assert any("app.tasks.x\\n2026-01-01" in message for message in messages)
