"""The transactional outbox: rows written in the caller's transaction, relayed after commit."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
from django.db import transaction
from django.test import TestCase, override_settings
from dqtest_shop.backends import CountingBackend
from dqtest_shop.models import Record
from dqtest_shop.tasks import record

from dqueue import bulk_enqueue
from dqueue.backends import get_backend
from dqueue.clock import ManualClock
from dqueue.errors import EncodeError
from dqueue.job import encode_job
from dqueue.testing import wait_for
from dqueue_django.models import OutboxJob
from dqueue_django.outbox import CLAIM_SECONDS, OutboxRelay, relay_after_commit, relay_stale

COUNTING = "dqtest_shop.backends.CountingBackend"
DOWN = "dqtest_shop.backends.DownBackend"


@pytest.fixture(autouse=True)
def _outbox_on() -> Iterator[None]:
    OutboxJob.objects.all().delete()
    with override_settings(DQUEUE_OUTBOX=True, DQUEUE_BACKEND=COUNTING):
        yield
    OutboxJob.objects.all().delete()


def store() -> CountingBackend:
    backend = get_backend("default")
    assert isinstance(backend, CountingBackend)
    return backend


def later() -> ManualClock:
    """A clock past the relay delay of rows written now."""
    return ManualClock(start=time.time() + 10)


def commit_with_store_down(*values: str) -> list[str]:
    """Enqueue ``values`` in a transaction that commits while the store is down."""
    with override_settings(DQUEUE_BACKEND=DOWN), transaction.atomic():
        return [record.enqueue("outbox", value).id for value in values]


def test_an_enqueue_inside_a_transaction_writes_an_outbox_row_and_sends_nothing_yet() -> None:
    with transaction.atomic():
        handle = record.enqueue("outbox", "a")
        rows = list(OutboxJob.objects.values_list("job_id", "queue"))
        assert store().asked == []

    assert rows == [(handle.id, "default")]


def _enqueue_then_fail(value: str) -> None:
    with transaction.atomic():
        Record.objects.create(kind="rolled-back")
        record.enqueue("outbox", value)
        raise ZeroDivisionError


def test_a_rolled_back_transaction_leaves_no_row_and_enqueues_nothing() -> None:
    with pytest.raises(ZeroDivisionError):
        _enqueue_then_fail("never")

    assert OutboxJob.objects.count() == 0
    assert store().asked == []


def test_a_rolled_back_savepoint_drops_only_its_own_row() -> None:
    with transaction.atomic():
        kept = record.enqueue("outbox", "kept")
        with pytest.raises(ZeroDivisionError):
            _enqueue_then_fail("dropped")

    assert store().asked == [kept.id]


def test_the_commit_relays_the_rows_at_once_and_deletes_them() -> None:
    with transaction.atomic():
        first = record.enqueue("outbox", "a")
        second = record.enqueue("outbox", "b")

    assert store().asked == [first.id, second.id]
    assert store().length("default") == 2
    assert OutboxJob.objects.count() == 0


def test_the_handle_carries_the_id_the_job_is_stored_under() -> None:
    with transaction.atomic():
        handle = record.enqueue("outbox", "a")

    job = store().reserve("default", worker_id="w", timeout_s=0)[0]
    assert job.id == handle.id


def test_a_bulk_enqueue_in_a_transaction_writes_one_row_per_job() -> None:
    with transaction.atomic():
        with bulk_enqueue():
            handles = [record.enqueue("outbox", str(n)) for n in range(3)]
        assert OutboxJob.objects.count() == 3

    assert store().asked == [handle.id for handle in handles]


def test_an_enqueue_outside_a_transaction_is_sent_directly_without_a_row() -> None:
    handle = record.enqueue("outbox", "now")

    assert store().asked == [handle.id]
    assert OutboxJob.objects.count() == 0


def test_unencodable_arguments_refuse_at_the_call_and_write_no_row() -> None:
    with transaction.atomic():
        with pytest.raises(EncodeError, match="value"):
            record.enqueue("outbox", value=object())  # type: ignore[arg-type]
        assert OutboxJob.objects.count() == 0

    assert store().asked == []


def test_a_commit_while_the_store_is_down_keeps_the_row_committed() -> None:
    ids = commit_with_store_down("a")

    assert list(OutboxJob.objects.values_list("job_id", flat=True)) == ids
    assert store().asked == []


def test_the_relay_sends_a_row_left_by_a_failed_send_and_deletes_it() -> None:
    ids = commit_with_store_down("a", "b")

    sent = OutboxRelay("default", clock=later()).tick()

    assert sent == 2
    assert store().asked == ids
    assert OutboxJob.objects.count() == 0


def test_the_relay_leaves_rows_younger_than_its_delay_to_their_own_process() -> None:
    commit_with_store_down("a")

    assert OutboxRelay("default", clock=ManualClock(start=time.time())).tick() == 0
    assert OutboxJob.objects.count() == 1


def test_a_relay_whose_store_is_down_keeps_the_rows_and_releases_its_claim() -> None:
    ids = commit_with_store_down("a")
    relay = OutboxRelay("default", clock=later())

    with override_settings(DQUEUE_BACKEND=DOWN):
        assert relay.tick() == 0
    assert relay.tick() == 1

    assert store().asked == ids
    assert OutboxJob.objects.count() == 0


def test_the_relay_backs_off_longer_after_each_failure_and_resets_on_success() -> None:
    commit_with_store_down("a")
    relay = OutboxRelay("default", clock=later(), interval_s=1.0)

    with override_settings(DQUEUE_BACKEND=DOWN):
        delays = []
        for _ in range(3):
            relay.tick()
            delays.append(relay.delay_s)
    relay.tick()

    assert delays == sorted(delays)
    assert delays[0] < delays[-1]
    assert relay.delay_s == 1.0


def test_a_row_claimed_by_another_relay_is_skipped_until_the_claim_runs_out() -> None:
    [job_id] = commit_with_store_down("a")
    clock = later()
    OutboxJob.objects.update(claimed_by="someone", claimed_until=clock.time() + CLAIM_SECONDS)

    assert relay_stale("default", clock=clock) == 0
    clock.advance(CLAIM_SECONDS + 1)
    assert relay_stale("default", clock=clock) == 1
    assert store().asked == [job_id]


def test_the_relay_after_a_long_commit_skips_a_row_another_relay_took_meanwhile() -> None:
    commit_with_store_down("a")
    OutboxJob.objects.update(claimed_by="someone", claimed_until=time.time() + CLAIM_SECONDS)

    assert relay_after_commit("default", "birth-claim", time.time() - 1) == 0
    assert store().asked == []
    assert OutboxJob.objects.count() == 1


def test_the_relay_after_a_long_commit_claims_its_rows_again_and_sends_them() -> None:
    [job_id] = commit_with_store_down("a")
    OutboxJob.objects.update(claimed_by="birth-claim", claimed_until=time.time() - 1)

    assert relay_after_commit("default", "birth-claim", time.time() - 1) == 1
    assert store().asked == [job_id]
    assert OutboxJob.objects.count() == 0


def test_a_row_that_cannot_be_decoded_is_logged_and_kept(caplog: pytest.LogCaptureFixture) -> None:
    good = commit_with_store_down("good")
    OutboxJob.objects.create(job_id="bad", queue="default", payload="{not json", created_at=0.0)

    assert relay_stale("default", clock=later()) == 1

    assert store().asked == good
    assert list(OutboxJob.objects.values_list("job_id", flat=True)) == ["bad"]
    assert "cannot be decoded" in caplog.text


def _stale_rows(count: int) -> list[str]:
    jobs = [record.build_job(("race", str(n)), {}) for n in range(count)]
    OutboxJob.objects.bulk_create(
        OutboxJob(job_id=job.id, queue=job.queue, payload=encode_job(job), created_at=0.0)
        for job in jobs
    )
    return [job.id for job in jobs]


def test_two_relays_racing_send_every_job_exactly_once() -> None:
    ids = _stale_rows(200)
    clock = later()
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def relay() -> None:
        from django.db import connection

        try:
            barrier.wait()
            while OutboxJob.objects.exists():
                relay_stale("default", clock=clock, batch_size=7)
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=relay) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    assert sorted(store().asked) == sorted(ids)
    assert store().length("default") == len(ids)


def test_transactions_only_on_another_database_hold_the_job_in_memory() -> None:
    with transaction.atomic(using="other"):
        handle = record.enqueue("outbox", "a")
        assert OutboxJob.objects.count() == 0
        assert store().asked == []

    assert store().asked == [handle.id]


class _NeverCommit(Exception):
    pass


def _enqueue_in_a_test_case_transaction() -> None:
    # A TestCase's transaction never commits; captured callbacks run at the block's end.
    with transaction.atomic():
        with TestCase.captureOnCommitCallbacks(execute=True):
            handle = record.enqueue("outbox", "captured")
        seen = ([handle.id], list(store().asked), OutboxJob.objects.count())
        raise _NeverCommit(seen)


def test_captured_commit_callbacks_relay_the_rows_as_in_a_test_case() -> None:
    with pytest.raises(_NeverCommit) as raised:
        _enqueue_in_a_test_case_transaction()

    ids, asked, rows_left = raised.value.args[0]
    assert asked == ids
    assert rows_left == 0


def test_the_relay_service_sends_stale_rows_from_its_thread_until_stopped() -> None:
    ids = commit_with_store_down("a")
    OutboxJob.objects.update(created_at=0.0)  # long past the relay delay
    relay = OutboxRelay("default", interval_s=0.05)

    relay.start()
    assert relay.running
    try:
        wait_for(lambda: not OutboxJob.objects.exists(), what="the relay's send")
    finally:
        relay.stop()

    assert store().asked == ids
    assert not relay.running
