"""dqueue.ops: the operations that the dqueue command, Django's commands and the admin render."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone

import pytest

from dqueue import configure, get_backend, ops, task
from dqueue.backends.memory import MemoryBackend
from dqueue.clock import ManualClock
from dqueue.errors import (
    BackendUnavailable,
    ConfigurationError,
    DQueueError,
    InvalidTime,
    JobCancelled,
    JobFailed,
    JobNotFound,
    ResultTimeout,
    UnknownQueue,
    UnsupportedOperation,
    UsageError,
)
from dqueue.execution import decide, execute
from dqueue.job import Job, JobFailure, new_job_id
from dqueue.registry import TaskRegistry
from dqueue.settings import get_settings
from dqueue.status import render_status

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
MEMORY = "dqueue.backends.memory.MemoryBackend"


@task(queue="ops-tasks", max_attempts=1)
def fails() -> None:
    raise ValueError("bad input\nsecond line")


@task(queue="ops-tasks")
def succeeds() -> int:
    return 1


@pytest.fixture
def memory() -> MemoryBackend:
    configure(BACKEND=MEMORY, WORKERS={"mail": 2})
    backend = get_backend("default")
    assert isinstance(backend, MemoryBackend)
    return backend


def stored_job(queue: str) -> Job:
    return Job(id=new_job_id(), task=succeeds.name, queue=queue)


# -- durations -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90", timedelta(seconds=90)),
        ("1.5", timedelta(seconds=1.5)),
        ("45s", timedelta(seconds=45)),
        ("90m", timedelta(minutes=90)),
        ("1.5h", timedelta(hours=1, minutes=30)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("2m10s", timedelta(minutes=2, seconds=10)),
        ("1h2m3s", timedelta(hours=1, minutes=2, seconds=3)),
        ("2d", timedelta(days=2)),
        ("1d12h", timedelta(days=1, hours=12)),
        (" 1H 5M ", timedelta(hours=1, minutes=5)),
    ],
)
def test_a_duration_is_seconds_or_days_hours_minutes_seconds(
    text: str, expected: timedelta
) -> None:
    assert ops.parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "soon", "h", "5m1h", "1h1h", "-5s", "1.5.h", "2w"])
def test_what_is_not_a_duration_is_refused(text: str) -> None:
    with pytest.raises(InvalidTime, match="not a duration"):
        ops.parse_duration(text)


@pytest.mark.parametrize("text", ["0", "0s", "-1", "0h0m"])
def test_a_duration_of_zero_or_less_is_refused(text: str) -> None:
    with pytest.raises(InvalidTime, match="more than 0 seconds"):
        ops.parse_duration(text)


def test_an_invalid_time_is_a_usage_error_and_a_value_error() -> None:
    with pytest.raises(UsageError):
        ops.parse_duration("soon")
    with pytest.raises(ValueError):
        ops.parse_duration("soon")


def test_an_iso_time_with_an_offset_is_read_as_given() -> None:
    moment = ops.parse_until("2026-11-27T18:00:00+01:00", now=NOW)

    assert moment == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


def test_an_iso_time_without_an_offset_is_in_the_default_zone() -> None:
    zone = timezone(timedelta(hours=-5))

    moment = ops.parse_until("2026-11-27T18:00:00", now=NOW, default_tz=zone)

    assert moment == datetime(2026, 11, 27, 23, 0, tzinfo=UTC)


def test_an_iso_time_without_an_offset_or_default_zone_is_refused() -> None:
    with pytest.raises(InvalidTime, match="no time zone"):
        ops.parse_until("2026-11-27T18:00:00", now=NOW)


@pytest.mark.parametrize(
    ("text", "message"),
    [("2026-11-27T11:59:59+00:00", "in the past"), ("tomorrow", "ISO 8601")],
)
def test_a_past_or_unreadable_time_is_refused(text: str, message: str) -> None:
    with pytest.raises(InvalidTime, match=message):
        ops.parse_until(text, now=NOW)


# -- queue discovery -------------------------------------------------------------------------


def test_configured_queues_are_default_workers_overrides_tasks_and_extra(
    memory: MemoryBackend,
) -> None:
    configure(BACKEND=MEMORY, WORKERS={"mail": 1}, BACKEND_OVERRIDES={"sync": MEMORY})

    known = ops.configured_queues(get_settings(), extra=["cron"])

    assert {"default", "mail", "sync", "ops-tasks", "cron"} <= known


def test_queues_that_only_the_store_holds_are_listed(memory: MemoryBackend) -> None:
    memory.enqueue(stored_job("leftover"))

    listing = ops.list_queues(get_settings())

    assert {"default", "mail", "leftover"} <= set(listing.queues)
    assert list(listing.queues) == sorted(listing.queues)
    assert listing.errors == ()


def test_a_store_that_is_down_fails_the_listing_unless_told_to_keep_going(
    memory: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: MemoryBackend) -> list[str]:
        raise BackendUnavailable("store unreachable")

    monkeypatch.setattr(MemoryBackend, "queues", down)
    with pytest.raises(BackendUnavailable):
        ops.list_queues(get_settings())

    listing = ops.list_queues(get_settings(), keep_going=True)

    assert "mail" in listing.queues
    assert listing.errors == (f"{MEMORY}: store unreachable",)


def test_an_unknown_queue_is_refused_with_the_known_ones(memory: MemoryBackend) -> None:
    with pytest.raises(UnknownQueue, match=r"unknown queue 'nope' \(known: .*mail"):
        ops.check_queue(get_settings(), "nope")


def test_a_queue_known_only_to_the_store_or_extra_is_accepted(memory: MemoryBackend) -> None:
    memory.enqueue(stored_job("leftover"))

    ops.check_queue(get_settings(), "leftover")
    ops.check_queue(get_settings(), "cron", extra=["cron"])


def test_a_worker_may_serve_an_unchecked_queue_while_the_store_is_down(
    memory: MemoryBackend, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(self: MemoryBackend) -> list[str]:
        raise BackendUnavailable("store unreachable")

    monkeypatch.setattr(MemoryBackend, "queues", down)

    ops.check_queue(get_settings(), "elsewhere", store_may_be_down=True)
    with pytest.raises(BackendUnavailable):
        ops.check_queue(get_settings(), "elsewhere")


# -- runner plans ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (ops.PlanOptions(exact=True), "--exact-configuration needs --config"),
        (
            ops.PlanOptions(exact=True, config="f.py", machines=2, only_queue="mail"),
            "cannot be combined with --of, --only-queue",
        ),
        (ops.PlanOptions(machine=2), "--machine and --of go together"),
        (ops.PlanOptions(machines=2), "--machine and --of go together"),
        (ops.PlanOptions(machine=3, machines=2), "between 1 and --of (2), not 3"),
    ],
)
def test_runner_options_that_do_not_fit_are_usage_errors(
    memory: MemoryBackend, options: ops.PlanOptions, message: str
) -> None:
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        ops.plan(get_settings(), options)


def test_a_pooled_plan_splits_the_workers_over_the_machines(memory: MemoryBackend) -> None:
    options = ops.PlanOptions(machine=2, machines=2)

    plan = ops.plan(get_settings(), options, extra_queues=["x"], registry=TaskRegistry())

    assert dict(plan.counts) == {"mail": 2, "x": 1}
    assert [str(slot) for slot in plan.slots] == ["mail/2"]


def test_an_exact_plan_runs_the_configured_workers_here(memory: MemoryBackend) -> None:
    plan = ops.plan(get_settings(), ops.PlanOptions(exact=True, config="f.py"))

    assert [str(slot) for slot in plan.slots] == ["mail/1", "mail/2"]
    assert not plan.run_services


def test_only_an_unknown_queue_is_a_configuration_error(memory: MemoryBackend) -> None:
    with pytest.raises(ConfigurationError, match="--only-queue 'nope'"):
        ops.plan(get_settings(), ops.PlanOptions(only_queue="nope"))


# -- status, dead letters, failures ----------------------------------------------------------


def test_failure_summary_is_the_class_name_and_first_line() -> None:
    failure = JobFailure(exception_type="builtins.ValueError", message="bad\nmore", at=0.0)

    assert ops.failure_summary(failure) == "ValueError: bad"


def test_failure_summary_without_a_message_is_the_class_name() -> None:
    failure = JobFailure(exception_type="dqueue.LeaseExpired", message="", at=0.0)

    assert ops.failure_summary(failure) == "LeaseExpired"


def test_queue_status_counts_jobs_and_renders_the_pause(memory: MemoryBackend) -> None:
    memory.enqueue(stored_job("mail"))
    memory.pause("mail", datetime(2999, 1, 1, tzinfo=UTC).timestamp())

    (status,) = ops.queue_status(get_settings(), ["mail"])

    assert (status.queue, status.backend, status.ready, status.delayed) == ("mail", MEMORY, 1, 0)
    assert status.to_dict()["paused_until"] == "2999-01-01T00:00:00+00:00"
    assert status.lateness_p50_ms is None


def test_status_names_each_queues_node_when_its_store_says_where(memory: MemoryBackend) -> None:
    memory.enqueue(stored_job("mail"))
    (status,) = ops.queue_status(get_settings(), ["mail"])
    located = dataclasses.replace(status, queue="other", location="10.0.0.7:7000 slot 42")

    header, _, mail, other = render_status([status, located]).splitlines()

    assert header.split()[:3] == ["queue", "node", "ready"]
    assert mail.split()[:3] == ["mail", "-", "1"]
    assert other.split()[:4] == ["other", "10.0.0.7:7000", "slot", "42"]
    assert "node" not in render_status([status]).splitlines()[0]


def dead_letter(memory: MemoryBackend) -> str:
    handle = fails.using(queue="mail", result_ttl=60).enqueue()
    [job] = memory.reserve("mail", worker_id="w", timeout_s=0)
    memory.settle([decide(execute(job, worker_id="w"), get_settings())], worker_id="w")
    return handle.id


def test_dead_letters_are_data_with_their_failure(memory: MemoryBackend) -> None:
    job_id = dead_letter(memory)

    [letter] = ops.dead_letters(get_settings(), "mail", limit=10)
    data = ops.dead_letter_data(letter)

    assert data["id"] == job_id
    assert data["failure"]["exception_type"] == "builtins.ValueError"
    assert ops.failure_summary(letter.failure) == "ValueError: bad input"


def test_retrying_dead_letters_says_how_many_and_refuses_unknown_ids(
    memory: MemoryBackend,
) -> None:
    job_id = dead_letter(memory)

    change = ops.retry_dead(get_settings(), "mail", [job_id, "nope", job_id])

    assert (change.count, change.job_ids) == (1, (job_id, "nope"))
    with pytest.raises(JobNotFound, match="1 of the 2 job id"):
        change.check_all_found(see="dqueue dead list mail")


def test_purging_unknown_ids_only_is_not_found(memory: MemoryBackend) -> None:
    change = ops.purge_dead(get_settings(), "mail", ["nope"])

    with pytest.raises(JobNotFound, match="see 'queue_dead list mail'"):
        change.check_all_found(see="queue_dead list mail")


def test_a_pause_without_an_end_lasts_until_resumed(memory: MemoryBackend) -> None:
    paused = ops.pause(get_settings(), "mail")

    assert paused.indefinitely
    assert memory.paused_until("mail") == paused.until.timestamp()
    ops.resume(get_settings(), "mail")
    assert memory.paused_until("mail") is None


def test_a_pause_for_a_duration_ends_that_much_later(memory: MemoryBackend) -> None:
    before = datetime.now(UTC)

    paused = ops.pause(get_settings(), "mail", duration="1.5h")

    assert timedelta(minutes=90) <= paused.until - before < timedelta(minutes=91)
    assert not paused.indefinitely


def test_an_action_the_backend_cannot_do_is_refused_by_its_flags() -> None:
    configure(BACKEND="dqueue.backends.synchronous.SynchronousBackend")

    with pytest.raises(UnsupportedOperation, match="cannot pause"):
        ops.pause(get_settings(), "default", duration="5m")


def test_clear_and_deduplicate_report_what_they_removed(memory: MemoryBackend) -> None:
    for _ in range(2):
        memory.enqueue(Job(id=new_job_id(), task=succeeds.name, queue="mail", args=(1,)))

    assert ops.deduplicate(get_settings(), "mail") == ops.Deduplicated("mail", 2, 1)
    assert ops.clear(get_settings(), "mail") == 1


# -- result errors ---------------------------------------------------------------------------


def test_a_result_of_a_job_that_failed_for_good_raises_job_failed(memory: MemoryBackend) -> None:
    handle = fails.using(queue="mail", result_ttl=60).enqueue()
    [job] = memory.reserve("mail", worker_id="w", timeout_s=0)
    memory.settle([decide(execute(job, worker_id="w"), get_settings())], worker_id="w")

    with pytest.raises(JobFailed, match="failed for good: ValueError: bad input") as raised:
        handle.result(timeout=1)

    assert raised.value.job_id == handle.id
    assert raised.value.failure is not None
    assert raised.value.failure.exception_type == "builtins.ValueError"


def test_a_result_of_a_cancelled_job_raises_job_cancelled(memory: MemoryBackend) -> None:
    handle = succeeds.using(queue="mail", result_ttl=60, delay=timedelta(hours=1)).enqueue()
    assert memory.cancel([handle.id]) == [handle.id]

    with pytest.raises(JobCancelled, match="was cancelled") as raised:
        handle.result(timeout=5, clock=ManualClock())

    assert raised.value.job_id == handle.id
    assert isinstance(raised.value, DQueueError)


def test_a_result_of_a_job_cancelled_while_it_ran_is_the_run_s_return_value(
    memory: MemoryBackend,
) -> None:
    handle = succeeds.using(queue="mail", result_ttl=60).enqueue()
    [job] = memory.reserve("mail", worker_id="w", timeout_s=0)
    memory.cancel([handle.id])
    memory.settle([decide(execute(job, worker_id="w"), get_settings())], worker_id="w")

    assert handle.result(timeout=1) == 1


def test_a_result_that_does_not_come_in_time_raises_result_timeout(
    memory: MemoryBackend,
) -> None:
    handle = succeeds.using(queue="mail", result_ttl=60).enqueue()

    with pytest.raises(ResultTimeout, match="did not finish within 5s") as raised:
        handle.result(timeout=5, clock=ManualClock())

    assert isinstance(raised.value, TimeoutError)
    assert isinstance(raised.value, DQueueError)
