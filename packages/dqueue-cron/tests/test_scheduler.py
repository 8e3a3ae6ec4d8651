"""The scheduler with a manual clock and the memory backend: once per slot, catch-up,
overlap guard, a store that fails."""

from __future__ import annotations

import logging
import random
from collections import Counter

import pytest

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.backends.memory import MemoryBackend
from dqueue.clock import ManualClock
from dqueue.execution import execute
from dqueue.job import Job
from dqueue.loading import import_plugin_tasks
from dqueue.services import Service
from dqueue.settings import Settings
from dqueue.testing import FailingBackend, wait_for
from dqueue_cron import CronEntry, CronScheduler, CronSettings
from dqueue_cron.errors import InvalidCronEntry
from dqueue_cron.plan import KEY_MARGIN_S

MINUTE = 60.0


def _scheduler(entries, settings, clock, backend, **options) -> CronScheduler:
    return CronScheduler(entries, settings=settings, clock=clock, backend=backend, **options)


def _waiting(backend: MemoryBackend, queue: str = "cron") -> list[Job]:
    """Every job waiting in ``queue``, reserved out of the store (so the store is drained)."""
    jobs: list[Job] = []
    while True:
        batch = backend.reserve(queue, worker_id="test", timeout_s=0, limit=100)
        if not batch:
            return jobs
        jobs.extend(batch)
        backend.settle([], worker_id="test")


def _drain_due(backend: MemoryBackend, clock: ManualClock, queue: str = "cron") -> list[Job]:
    """Run (ack) every job due now, as a worker would; return them."""
    ran = backend.reserve(queue, worker_id="w", timeout_s=0, limit=1000)
    for job in ran:
        backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id="w")
    return ran


def _slots(jobs: list[Job]) -> list[int]:
    return [job.meta["cron"]["slot"] for job in jobs]


EVERY_MINUTE = CronEntry(name="tick", schedule="* * * * *", task="cronapp.tasks.cleanup")


# -- enqueueing a slot -------------------------------------------------------------------------


def test_a_slot_is_enqueued_ahead_due_at_its_own_time(settings, clock, backend):
    scheduler = _scheduler([EVERY_MINUTE], settings, clock, backend)
    start = clock.time()  # a whole minute
    scheduler.tick()  # the first tick: the slot at `start` is due now
    clock.advance(MINUTE - 2.5)
    assert [o.slot for o in scheduler.tick()] == []  # 2.5 s before the next slot: not yet
    clock.advance(1.0)
    outcomes = scheduler.tick()  # 1.5 s before it: within the 2 s lead
    assert [(o.slot, o.result) for o in outcomes] == [(int(start + MINUTE), "enqueued")]
    counts = backend.counts("cron")
    assert (counts.ready, counts.delayed) == (1, 1)


def test_the_job_carries_the_slot_key_the_entry_and_the_task_options(settings, clock, backend):
    entry = CronEntry(name="report", schedule="* * * * *", task="cronapp.tasks.report",
                      args=["hourly"])  # fmt: skip
    _scheduler([entry], settings, clock, backend).tick()
    (job,) = _waiting(backend)
    slot = int(clock.time())
    assert job.task == "cronapp.tasks.report"
    assert (job.queue, job.args, job.run_after) == ("cron", ("hourly",), float(slot))
    assert job.unique_key == f"cron:report:{slot}"
    window = settings.section(CronSettings).CRON_CATCH_UP_WINDOW
    assert job.unique_for == window + 2.0 + KEY_MARGIN_S
    assert (job.timeout, job.max_attempts, job.sigkill_on_stop, job.priority) == (30, 5, True, 7)
    assert job.meta == {"cron": {"entry": "report", "slot": slot}}


def test_entry_options_override_the_task_and_the_settings(clock, backend):
    cron = {"CRON_QUEUE": "scheduled", "CRON_CATCH_UP": "skip"}
    settings = Settings(DEFAULT_MAX_ATTEMPTS=4).replace(**cron)
    entries = [
        CronEntry(name="a", schedule="* * * * *", task="cronapp.tasks.report", queue="fast",
                  timeout=5, max_attempts=1, sigkill_on_stop=False),
        CronEntry(name="b", schedule="* * * * *", task="cronapp.tasks.cleanup"),
    ]  # fmt: skip
    _scheduler(entries, settings, clock, backend).tick()
    (fast,) = _waiting(backend, "fast")
    (plain,) = _waiting(backend, "scheduled")
    assert (fast.timeout, fast.max_attempts, fast.sigkill_on_stop) == (5, 1, False)
    assert (plain.timeout, plain.max_attempts, plain.sigkill_on_stop) == (None, 4, False)


def test_slots_follow_the_entry_time_zone(settings, clock, backend):
    entry = CronEntry(name="tokyo", schedule="0 9 * * *", task="cronapp.tasks.cleanup",
                      timezone="Asia/Tokyo", catch_up="skip")  # fmt: skip
    scheduler = _scheduler([entry], settings, clock, backend)
    scheduler.tick()
    clock.advance(24 * 3600)  # 09:00 in Tokyo is 00:00 UTC: the next slot is exactly now
    (outcome,) = scheduler.tick()
    assert outcome.slot == int(clock.time())


def test_disabled_entries_are_not_scheduled(settings, clock, backend):
    off = CronEntry(name="off", schedule="* * * * *", task="cronapp.tasks.cleanup", enabled=False)
    scheduler = _scheduler([off, EVERY_MINUTE], settings, clock, backend)
    assert [plan.entry.name for plan in scheduler.plans] == ["tick"]
    assert {o.entry for o in scheduler.tick()} == {"tick"}


def test_an_unregistered_task_fails_at_start_up_naming_the_entry(settings, clock, backend):
    entry = CronEntry(name="typo", schedule="@daily", task="cronapp.tasks.cleanpu")
    with pytest.raises(InvalidCronEntry, match="cron entry 'typo': field 'task'.*cleanpu"):
        _scheduler([entry], settings, clock, backend)


def test_two_entries_with_one_name_fail_at_start_up(settings, clock, backend):
    with pytest.raises(InvalidCronEntry, match="two entries have this name"):
        _scheduler([EVERY_MINUTE, EVERY_MINUTE], settings, clock, backend)


def test_the_scheduler_is_a_service(settings, clock, backend):
    scheduler = _scheduler([EVERY_MINUTE], settings, clock, backend)
    assert isinstance(scheduler, Service)
    assert scheduler.name == "cron"


def test_it_sleeps_until_the_next_slot_minus_the_lead(settings, clock, backend):
    scheduler = _scheduler([EVERY_MINUTE], settings, clock, backend)
    scheduler.tick()
    clock.advance(40.0)
    assert scheduler.seconds_until_due() == pytest.approx(MINUTE - 40.0 - 2.0)


def test_it_sleeps_at_most_thirty_seconds(settings, clock, backend):
    daily = CronEntry(name="d", schedule="@daily", task="cronapp.tasks.cleanup")
    scheduler = _scheduler([daily], settings, clock, backend)
    scheduler.tick()
    assert scheduler.seconds_until_due() == 30.0


# -- once per slot, however many schedulers ----------------------------------------------------


def test_several_schedulers_on_one_store_enqueue_each_slot_exactly_once(settings, clock, backend):
    entries = [
        CronEntry(name="fast", schedule="*/10 * * * * *", task="cronapp.tasks.cleanup"),
        CronEntry(name="minutely", schedule="* * * * *", task="cronapp.tasks.cleanup"),
    ]
    schedulers = [_scheduler(entries, settings, clock, backend) for _ in range(3)]
    rng = random.Random(7)
    start = clock.time()
    won: Counter[tuple[str, int]] = Counter()
    seen: Counter[tuple[str, int]] = Counter()
    while clock.time() < start + 30 * MINUTE:
        for scheduler in rng.sample(schedulers, k=rng.randint(1, 3)):
            for outcome in scheduler.tick():
                seen[(outcome.entry, outcome.slot)] += 1
                won[(outcome.entry, outcome.slot)] += outcome.result == "enqueued"
        _drain_due(backend, clock)  # jobs run and are acknowledged as they fall due
        clock.advance(rng.uniform(0.1, 4.0))
    stored = Counter((j.meta["cron"]["entry"], j.meta["cron"]["slot"]) for j in _waiting(backend))
    assert set(won.values()) == {1}  # every slot any scheduler tried was won exactly once
    assert len([k for k in won if k[0] == "fast"]) >= 6 * 29
    assert len([k for k in won if k[0] == "minutely"]) >= 29
    assert all(count == 1 for count in stored.values())
    assert max(seen.values()) > 1  # and the schedulers did compete for slots


def test_a_scheduler_started_later_does_not_repeat_slots_already_run(settings, clock, backend):
    first = _scheduler([EVERY_MINUTE], settings, clock, backend)
    for _ in range(10):
        first.tick()
        _drain_due(backend, clock)
        clock.advance(MINUTE)
    late_entry = CronEntry(name="tick", schedule="* * * * *", task="cronapp.tasks.cleanup",
                           catch_up="latest")  # fmt: skip
    outcomes = _scheduler([late_entry], settings, clock, backend).tick()
    assert [o.result for o in outcomes if o.slot < clock.time()] == ["taken"]


def test_another_scheduler_keeps_the_slots_running_when_one_stops(settings, clock, backend):
    a = _scheduler([EVERY_MINUTE], settings, clock, backend)
    b = _scheduler([EVERY_MINUTE], settings, clock, backend)
    ran: list[int] = []
    for minute in range(20):
        if minute < 10:
            a.tick()  # `a` dies after ten minutes
        b.tick()
        ran += _slots(_drain_due(backend, clock))
        clock.advance(MINUTE)
    start = int(clock.time() - 20 * MINUTE)
    assert ran == [start + 60 * i for i in range(20)]


# -- catch-up ----------------------------------------------------------------------------------


def _missed_since(entry, settings, clock, backend, downtime_s):
    """Start a scheduler `downtime_s` after the previous one stopped; return its first outcomes."""
    previous = _scheduler([entry], settings, clock, backend)
    previous.tick()
    _drain_due(backend, clock)
    clock.advance(downtime_s)
    return _scheduler([entry], settings, clock, backend).tick()


def _entry(catch_up: str, window: float | None = None) -> CronEntry:
    return CronEntry(name="e", schedule="* * * * *", task="cronapp.tasks.cleanup",
                     catch_up=catch_up, catch_up_window=window)  # fmt: skip


def test_catch_up_skip_runs_none_of_the_missed_slots(settings, clock, backend):
    outcomes = _missed_since(_entry("skip"), settings, clock, backend, 10 * MINUTE + 30)
    assert outcomes == []  # and the next slot is 30 s away, beyond the lead


def test_catch_up_latest_runs_the_most_recent_slot_once(settings, clock, backend):
    outcomes = _missed_since(_entry("latest"), settings, clock, backend, 10 * MINUTE + 30)
    # 30 s old: within the grace, so it runs as on time; the next slot is not due yet
    assert [(o.slot, o.caught_up, o.result) for o in outcomes] == [
        (int(clock.time() - 30), False, "enqueued")
    ]


def test_catch_up_latest_runs_a_slot_older_than_the_grace_as_caught_up(
    settings, clock, backend, caplog
):
    hourly = CronEntry(name="h", schedule="0 * * * *", task="cronapp.tasks.cleanup",
                       catch_up="latest")  # fmt: skip
    _scheduler([hourly], settings, clock, backend).tick()
    _drain_due(backend, clock)
    clock.advance(70 * MINUTE)
    caplog.clear()  # what the previous scheduler logged
    with caplog.at_level(logging.INFO, logger="dqueue.cron"):
        outcomes = _scheduler([hourly], settings, clock, backend).tick()
    assert [(o.slot, o.caught_up, o.result) for o in outcomes] == [
        (int(clock.time() - 10 * MINUTE), True, "enqueued")
    ]
    assert "caught up 1 missed slot(s)" in caplog.text


def test_a_first_start_just_after_a_slot_reports_nothing_missed(settings, clock, backend, caplog):
    clock.advance(30)  # a runner starts 30 s after a slot of an every-minute entry
    with caplog.at_level(logging.INFO, logger="dqueue.cron"):
        outcomes = _scheduler([_entry("latest")], settings, clock, backend).tick()
    assert [(o.caught_up, o.result) for o in outcomes] == [(False, "enqueued")]
    assert "caught up" not in caplog.text


def test_a_slot_another_scheduler_ran_is_not_reported_as_caught_up(
    settings, clock, backend, caplog
):
    hourly = CronEntry(name="h", schedule="0 * * * *", task="cronapp.tasks.cleanup",
                       catch_up="latest")  # fmt: skip
    _scheduler([hourly], settings, clock, backend).tick()  # another runner ran the slot
    clock.advance(10 * MINUTE)
    caplog.clear()  # what that scheduler logged
    with caplog.at_level(logging.INFO, logger="dqueue.cron"):
        outcomes = _scheduler([hourly], settings, clock, backend).tick()
    assert [o.result for o in outcomes] == ["taken"]
    assert "caught up" not in caplog.text


def test_catch_up_all_runs_every_missed_slot_oldest_first(settings, clock, backend):
    start = int(clock.time())
    entry = _entry("all", window=10 * MINUTE + 30)  # back to the previous scheduler's start
    outcomes = _missed_since(entry, settings, clock, backend, 10 * MINUTE + 30)
    # the last, 30 s old, is within the grace: on time
    expected = [(start + 60 * i, i < 10) for i in range(11)]
    assert [(o.slot, o.caught_up) for o in outcomes] == expected
    # the slot at `start` was run by the previous scheduler: only the ten after it run now
    assert [o.result for o in outcomes] == ["taken"] + ["enqueued"] * 10


def test_catch_up_looks_back_no_further_than_its_window(settings, clock, backend):
    outcomes = _missed_since(_entry("all", window=180), settings, clock, backend, 10 * MINUTE + 30)
    now = clock.time()
    assert [o.slot for o in outcomes] == [now - 150, now - 90, now - 30]
    assert [o.slot for o in outcomes if o.caught_up] == [now - 150, now - 90]


def test_catch_up_latest_finds_nothing_outside_its_window(settings, clock, backend):
    daily = CronEntry(name="d", schedule="0 0 * * *", task="cronapp.tasks.cleanup",
                      catch_up="latest", catch_up_window=3600)  # fmt: skip
    outcomes = _missed_since(daily, settings, clock, backend, 5 * 3600)
    assert outcomes == []


def test_the_catch_up_policy_defaults_to_the_setting(clock, backend):
    settings = Settings().replace(CRON_CATCH_UP="skip")
    entry = CronEntry(name="e", schedule="* * * * *", task="cronapp.tasks.cleanup")
    outcomes = _missed_since(entry, settings, clock, backend, 5 * MINUTE + 30)
    assert [o for o in outcomes if o.caught_up] == []


def test_a_slot_a_little_late_is_still_on_time_under_skip(settings, clock, backend):
    scheduler = _scheduler([_entry("skip")], settings, clock, backend)
    scheduler.tick()
    clock.advance(MINUTE + 45)  # the thread was stalled: the last slot is 45 s late
    outcomes = scheduler.tick()
    assert [o.slot for o in outcomes] == [int(clock.time() - 45)]


def test_a_stall_longer_than_the_grace_applies_the_catch_up_policy(settings, clock, backend):
    scheduler = _scheduler([_entry("latest")], settings, clock, backend)
    scheduler.tick()
    clock.advance(5 * MINUTE + 30)
    outcomes = scheduler.tick()
    now = clock.time()
    # slots 270, 210, 150, 90 s old were missed: the latest of them runs; 30 s old is on time
    assert [(o.slot - now, o.caught_up) for o in outcomes] == [(-90, True), (-30, False)]


# -- overlap guard -----------------------------------------------------------------------------


GUARDED = CronEntry(name="slow", schedule="* * * * *", task="cronapp.tasks.cleanup",
                    prevent_overlap=True)  # fmt: skip


def test_a_guarded_slot_is_skipped_while_the_previous_run_is_unfinished(settings, clock, backend):
    scheduler = _scheduler([GUARDED], settings, clock, backend)
    assert [o.result for o in scheduler.tick()] == ["enqueued"]
    running = backend.reserve("cron", worker_id="w", timeout_s=0, limit=10)
    clock.advance(MINUTE)
    assert [o.result for o in scheduler.tick()] == ["skipped"]  # still running
    for job in running:
        backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id="w")
    clock.advance(MINUTE)
    assert [o.result for o in scheduler.tick()] == ["enqueued"]


def test_a_guarded_slot_is_enqueued_at_its_time_not_ahead(settings, clock, backend):
    scheduler = _scheduler([GUARDED], settings, clock, backend)
    scheduler.tick()
    clock.advance(MINUTE - 1)
    assert scheduler.tick() == []
    clock.advance(1)
    assert len(scheduler.tick()) == 1


def test_guarded_slots_are_claimed_once_across_schedulers(settings, clock, backend):
    schedulers = [_scheduler([GUARDED], settings, clock, backend) for _ in range(3)]
    results: Counter[str] = Counter()
    for _ in range(10):
        for scheduler in schedulers:
            results.update(o.result for o in scheduler.tick())
        for job in backend.reserve("cron", worker_id="w", timeout_s=0, limit=10):
            backend.settle([Outcome(job=job, kind=OutcomeKind.ACK)], worker_id="w")
        clock.advance(MINUTE)
    assert results == {"enqueued": 10, "taken": 20}


def test_the_claim_marker_runs_as_a_task_that_does_nothing(settings, clock, backend):
    import_plugin_tasks()  # what a worker does at start: the marker comes from the entry point
    _scheduler([GUARDED], settings, clock, backend).tick()
    jobs = _waiting(backend)
    claim = next(job for job in jobs if job.task == "dqueue_cron.tasks.claim_slot")
    execution = execute(claim, worker_id="w")
    assert execution.ok
    assert execution.result is None


# -- a store that fails ------------------------------------------------------------------------


def _flaky(settings, clock) -> FailingBackend:
    """A memory store whose enqueues fail (``fail``) until ``restore``."""
    return FailingBackend(
        MemoryBackend.from_settings(settings, clock=clock), message="the store went away"
    )


def test_a_failing_store_is_logged_retried_with_backoff_and_loses_no_slot(settings, clock, caplog):
    backend = _flaky(settings, clock)
    scheduler = _scheduler([_entry("skip")], settings, clock, backend)
    scheduler.tick()
    backend.fail("enqueue_many")
    clock.advance(MINUTE)
    with caplog.at_level(logging.WARNING, logger="dqueue.cron"):
        assert scheduler.tick() == []
    assert "could not enqueue (BackendUnavailable: enqueue_many: the store went away)" in (
        caplog.text
    )
    assert scheduler.seconds_until_due() == pytest.approx(0.5)  # first backoff step
    clock.advance(0.2)
    assert scheduler.tick() == []  # backing off: the store is not even asked
    backend.restore()
    clock.advance(10)
    (outcome,) = scheduler.tick()
    assert (outcome.slot, outcome.result) == (int(clock.time() - 10.2), "enqueued")


def test_the_backoff_grows_while_the_store_keeps_failing(settings, clock):
    backend = _flaky(settings, clock)
    backend.fail("enqueue_many")
    scheduler = _scheduler([EVERY_MINUTE], settings, clock, backend)
    waits = []
    for _ in range(5):
        scheduler.tick()
        waits.append(scheduler.seconds_until_due())
        clock.advance(waits[-1])
    assert waits == [0.5, 1.0, 2.0, 4.0, 8.0]
    backend.restore()
    (outcome,) = scheduler.tick()  # the slot due when the store failed first is not lost
    assert (outcome.slot, outcome.result) == (int(clock.time() - 15.5), "enqueued")


def test_a_failing_entry_does_not_stop_the_others(settings, clock):
    backend = _flaky(settings, clock)
    healthy = MemoryBackend.from_settings(settings, clock=clock)
    entries = [
        CronEntry(name="a", schedule="* * * * *", task="cronapp.tasks.cleanup", queue="down"),
        CronEntry(name="b", schedule="* * * * *", task="cronapp.tasks.cleanup", queue="up"),
    ]
    backend.fail("enqueue_many")
    scheduler = CronScheduler(
        entries,
        settings=settings,
        clock=clock,
        backend=lambda queue: backend if queue == "down" else healthy,
    )
    assert [o.entry for o in scheduler.tick()] == ["b"]


def test_slots_missed_before_start_are_kept_until_the_store_takes_them(settings, clock):
    backend = _flaky(settings, clock)
    backend.fail("enqueue_many")
    scheduler = _scheduler([_entry("latest")], settings, clock, backend)
    clock.advance(30)
    assert scheduler.tick() == []  # the latest missed slot (30 s ago) could not be stored
    backend.restore()
    clock.advance(10 * MINUTE)  # a long outage: that slot is now far older than the grace
    outcomes = scheduler.tick()
    assert [(o.slot - clock.time(), o.caught_up) for o in outcomes][0] == (-630, True)


# -- the thread --------------------------------------------------------------------------------


def test_the_service_thread_enqueues_slots_and_stops_promptly(settings):
    from dqueue.clock import SYSTEM_CLOCK

    backend = MemoryBackend.from_settings(settings, clock=SYSTEM_CLOCK)
    every_second = CronEntry(name="s", schedule="* * * * * *", task="cronapp.tasks.cleanup")
    scheduler = CronScheduler([every_second], settings=settings, backend=backend, lead=0.5)
    scheduler.start()
    try:
        wait_for(lambda: backend.counts("cron").ready + backend.counts("cron").delayed >= 2)
    finally:
        scheduler.stop(timeout_s=5)
    assert not scheduler.running


def test_starting_says_when_an_entry_runs_on_another_queue_than_its_tasks(settings, caplog):
    report = CronEntry(name="r", schedule="0 3 * * *", task="cronapp.tasks.report", args=("x",))
    named = CronEntry(name="n", schedule="0 3 * * *", task="cronapp.tasks.report", args=("x",),
                      queue="reports")  # fmt: skip
    scheduler = CronScheduler([report, named], settings=settings, backend=MemoryBackend())
    with caplog.at_level(logging.INFO, logger="dqueue.cron"):
        scheduler.start()
        scheduler.stop()
    hints = [r.getMessage() for r in caplog.records if "not on its task's queue" in r.getMessage()]
    assert hints == [
        "cron: entry 'r' runs on queue 'cron' (DQUEUE_CRON_QUEUE), not on its task's queue "
        "'reports': give the entry queue='reports' to run it there"
    ]
