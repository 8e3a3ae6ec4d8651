from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from dqueue import bulk_enqueue, configure, get_backend, task
from dqueue.backends.memory import MemoryBackend
from dqueue.clock import ManualClock
from dqueue.errors import EncodeError, InvalidTask
from dqueue.registry import REGISTRY
from dqueue.task import Task

CALLS: list[tuple[Any, ...]] = []


@task(queue="numbers", max_attempts=4, priority=5)
def add(first: int, second: int) -> int:
    CALLS.append((first, second))
    return first + second


@task
def bare() -> str:
    return "bare"


@pytest.fixture
def memory() -> MemoryBackend:
    configure(BACKEND="dqueue.backends.memory.MemoryBackend")
    backend = get_backend("numbers")
    assert isinstance(backend, MemoryBackend)
    return backend


def waiting_jobs(backend: MemoryBackend, queue: str) -> list[Any]:
    return backend.reserve(queue, worker_id="test", timeout_s=0, limit=100)


def test_decorated_tasks_are_registered_under_module_and_name() -> None:
    assert REGISTRY.get(add.name) is add
    assert add.name.endswith("test_task.add")
    assert REGISTRY.get(bare.name) is bare


def test_calling_a_task_enqueues_a_job_and_returns_its_id(memory: MemoryBackend) -> None:
    handle = add(4, second=9)
    [job] = waiting_jobs(memory, "numbers")
    assert handle.id == job.id
    assert job.task == add.name
    assert job.args == (4,)
    assert job.kwargs == {"second": 9}
    assert job.max_attempts == 4
    assert job.priority == 5


def test_with_the_default_synchronous_backend_a_call_runs_inline() -> None:
    CALLS.clear()
    add(1, 2)
    assert CALLS == [(1, 2)]


def test_the_synchronous_backend_propagates_the_task_exception() -> None:
    @task
    def explode() -> None:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        explode()


def test_the_synchronous_backend_can_swallow_exceptions_as_dlq_did(
    caplog: pytest.LogCaptureFixture,
) -> None:
    configure(SYNCHRONOUS_RAISE=False)

    @task
    def explode_quietly() -> None:
        raise RuntimeError("boom")

    with caplog.at_level(logging.WARNING):
        explode_quietly()  # not raised: logged with its traceback

    [record] = [r for r in caplog.records if r.exc_info and r.exc_info[0] is RuntimeError]
    assert record.levelno >= logging.WARNING
    assert "explode_quietly" in record.getMessage()
    assert str(record.exc_info[1]) == "boom"


def test_call_runs_the_function_here_and_returns_its_result(memory: MemoryBackend) -> None:
    assert add.call(2, 3) == 5
    assert waiting_jobs(memory, "numbers") == []


def test_an_argument_that_is_not_json_is_refused_and_nothing_stored(memory: MemoryBackend) -> None:
    with pytest.raises(EncodeError, match="argument 'second'"):
        add(1, second=object())  # type: ignore[arg-type]
    assert memory.counts("numbers").total == 0


def test_enqueue_in_sets_run_after_from_the_task_clock(memory: MemoryBackend) -> None:
    clock = ManualClock(1000.0)
    timed = Task(add.fn, name=add.name, options=add.options, clock=clock)
    job = timed.using(delay=timedelta(seconds=30)).build_job((1, 2), {})
    assert job.run_after == 1030.0
    assert job.enqueued_at == 1000.0


def test_enqueue_at_needs_an_aware_datetime(memory: MemoryBackend) -> None:
    when = datetime(2030, 1, 1, 12, 0, tzinfo=timezone(timedelta(hours=2)))
    handle = add.enqueue_at(when, 1, 2)
    assert handle.job is not None
    assert handle.job.run_after == when.timestamp()
    with pytest.raises(InvalidTask, match="naive"):
        add.enqueue_at(datetime(2030, 1, 1), 1, 2)  # noqa: DTZ001


def test_a_negative_delay_is_refused(memory: MemoryBackend) -> None:
    with pytest.raises(InvalidTask, match="delay"):
        add.enqueue_in(-1, 1, 2)
    assert memory.counts("numbers").total == 0


def test_using_changes_options_for_its_calls_only(memory: MemoryBackend) -> None:
    special = add.using(queue="other", priority=-3, max_attempts=9, timeout=2.5)
    job = special.build_job((1, 2), {})
    assert (job.queue, job.priority, job.max_attempts, job.timeout) == ("other", -3, 9, 2.5)
    plain = add.build_job((1, 2), {})
    assert (plain.queue, plain.priority, plain.max_attempts) == ("numbers", 5, 4)


def test_unique_derives_the_same_key_for_the_same_arguments(memory: MemoryBackend) -> None:
    @task(unique=True, queue="numbers")
    def once(n: int) -> None: ...

    first = once(1)
    again = once(1)
    other = once(2)
    assert again.id == first.id
    assert other.id != first.id
    assert memory.counts("numbers").total == 2


def test_an_explicit_unique_key_returns_the_pending_job_id(memory: MemoryBackend) -> None:
    first = add.using(unique_key="k").enqueue(1, 2)
    second = add.using(unique_key="k").enqueue(3, 4)
    assert second.id == first.id


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"queue": ""}, "queue"),
        ({"timeout": 0}, "timeout"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"priority": 101}, "priority"),
    ],
)
def test_bad_task_options_are_refused_at_decoration(options: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidTask, match=message):
        task(**options)(lambda: None)


def test_strict_queues_refuse_a_queue_without_workers(memory: MemoryBackend) -> None:
    configure(STRICT_QUEUES=True, WORKERS={"default": 1})
    with pytest.raises(InvalidTask, match="DQUEUE_STRICT_QUEUES"):
        add(1, 2)


def test_bulk_enqueue_sends_jobs_in_batches_in_order(memory: MemoryBackend) -> None:
    sent: list[int] = []
    original = memory.enqueue_many

    def counting(jobs: Any) -> list[str]:
        sent.append(len(jobs))
        return original(jobs)

    memory.enqueue_many = counting  # type: ignore[method-assign]
    with bulk_enqueue(batch_size=4):
        handles = [add(i, 0) for i in range(10)]
    assert sent == [4, 4, 2]
    jobs = waiting_jobs(memory, "numbers")
    assert [job.args[0] for job in jobs] == list(range(10))
    assert [job.id for job in jobs] == [h.id for h in handles]


def test_bulk_enqueue_drops_unsent_jobs_when_the_block_raises(memory: MemoryBackend) -> None:
    def abandon_half_way() -> None:
        with bulk_enqueue(batch_size=100):
            add(1, 2)
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        abandon_half_way()
    assert memory.counts("numbers").total == 0


def test_the_dlq_style_task_bulk_enqueue_yields_an_enqueue_callable(memory: MemoryBackend) -> None:
    with add.bulk_enqueue(batch_size=3) as enqueue:
        for i in range(5):
            enqueue(i, second=i)
    assert [job.args[0] for job in waiting_jobs(memory, "numbers")] == list(range(5))


def test_store_result_lets_the_handle_wait_for_the_return_value(memory: MemoryBackend) -> None:
    from dqueue.execution import decide, execute
    from dqueue.settings import get_settings

    handle = add.using(result_ttl=60).enqueue(20, 22)
    [job] = waiting_jobs(memory, "numbers")
    memory.settle([decide(execute(job, worker_id="w"), get_settings())], worker_id="test")
    assert handle.result(timeout=1) == 42


def test_run_after_accepts_a_utc_datetime(memory: MemoryBackend) -> None:
    when = datetime(2031, 5, 1, tzinfo=UTC)
    job = add.using(run_after=when).build_job((1, 2), {})
    assert job.run_after == when.timestamp()


def test_a_queue_name_as_the_first_positional_argument_is_the_queue() -> None:
    @task("emails", max_attempts=2)
    def send(to: str) -> None: ...

    assert send.options.queue == "emails"
    assert send.options.max_attempts == 2


def test_a_positional_queue_and_a_queue_keyword_together_are_a_type_error() -> None:
    with pytest.raises(TypeError, match="names the queue twice"):
        task("emails", queue="other")  # type: ignore[call-overload]


def test_a_positional_that_is_neither_a_function_nor_a_queue_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match=r"not 42 \(int\)"):
        task(42)  # type: ignore[call-overload]


@pytest.mark.parametrize(
    ("keyword", "replacement"),
    [
        ("django_lightweight_queue_queue", r"add.using\(queue=...\)"),
        ("django_lightweight_queue_timeout", r"add.using\(timeout=...\)"),
        ("django_lightweight_queue_sigkill_on_stop", r"add.using\(sigkill_on_stop=...\)"),
    ],
)
def test_a_django_lightweight_queue_call_option_is_refused_pointing_to_using(
    memory: MemoryBackend, keyword: str, replacement: str
) -> None:
    with pytest.raises(TypeError, match=replacement):
        add(1, 2, **{keyword: "x"})  # type: ignore[arg-type]
    assert memory.counts("numbers").total == 0


def test_bulk_enqueue_refuses_a_django_lightweight_queue_call_option(
    memory: MemoryBackend,
) -> None:
    with (
        pytest.raises(TypeError, match="django_lightweight_queue_queue"),
        add.bulk_enqueue() as enqueue,
    ):
        enqueue(1, second=2, django_lightweight_queue_queue="x")  # type: ignore[call-arg]
    assert memory.counts("numbers").total == 0
