from __future__ import annotations

from collections.abc import Callable

import pytest
from django.db import transaction
from django.test import override_settings
from dqtest_shop.models import Record
from dqtest_shop.tasks import record, record_then_fail, record_then_fail_without_atomic

from dqueue.backends import Backend
from dqueue.settings import get_settings
from dqueue.worker import Worker

from .conftest import waiting

pytestmark = pytest.mark.usefixtures("memory_backend")


def run_queue(queue: str = "default") -> None:
    assert Worker(get_settings(), queue, burst=True).run() == 0


def test_an_enqueue_outside_a_transaction_is_stored_at_once() -> None:
    record("now")

    assert waiting() == 1


def test_an_enqueue_inside_a_transaction_is_stored_when_it_commits() -> None:
    with transaction.atomic():
        record("later")
        assert waiting() == 0

    assert waiting() == 1


def test_an_enqueue_inside_a_rolled_back_transaction_is_never_stored() -> None:
    def enqueue_then_fail() -> None:
        with transaction.atomic():
            record("never")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        enqueue_then_fail()

    assert waiting() == 0


def test_an_enqueue_in_a_rolled_back_savepoint_is_dropped_while_the_outer_one_is_sent() -> None:
    with transaction.atomic():
        record("kept")
        try:
            with transaction.atomic():
                record("dropped")
                raise ZeroDivisionError
        except ZeroDivisionError:
            pass

    assert waiting() == 1


def test_the_handle_of_a_held_job_carries_the_id_it_is_stored_under(
    memory_backend: Callable[[str], Backend],
) -> None:
    with transaction.atomic():
        handle = record.using(result_ttl=60).enqueue("id")

    info = memory_backend("default").result(handle.id)
    assert info is not None
    assert info.job_id == handle.id


def test_on_commit_false_sends_at_once_inside_a_transaction() -> None:
    with transaction.atomic():
        record.using(on_commit=False).enqueue("now")
        assert waiting() == 1


def test_the_setting_turns_enqueue_on_commit_off() -> None:
    with override_settings(DQUEUE_ENQUEUE_ON_COMMIT=False), transaction.atomic():
        record("now")
        assert waiting() == 1


def test_a_task_may_ask_for_on_commit_when_the_setting_is_off() -> None:
    with override_settings(DQUEUE_ENQUEUE_ON_COMMIT=False):
        with transaction.atomic():
            record.using(on_commit=True).enqueue("later")
            assert waiting() == 0
        assert waiting() == 1


def test_a_bulk_enqueue_inside_a_transaction_is_sent_on_commit() -> None:
    with transaction.atomic():
        with record.bulk_enqueue(batch_size=2) as enqueue:
            for index in range(5):
                enqueue("bulk", str(index))
        assert waiting() == 0

    assert waiting() == 5


def test_an_enqueue_waits_for_the_transaction_of_another_database() -> None:
    with transaction.atomic(using="other"):
        record("other")
        assert waiting() == 0

    assert waiting() == 1


def test_an_enqueue_inside_two_databases_transactions_waits_for_both() -> None:
    with transaction.atomic(using="other"):
        with transaction.atomic():
            record("both")
        assert waiting() == 0

    assert waiting() == 1


def test_an_enqueue_is_dropped_when_the_second_database_rolls_back() -> None:
    def enqueue_then_fail() -> None:
        with transaction.atomic(using="other"):
            with transaction.atomic():
                record("both")
            raise ZeroDivisionError

    with pytest.raises(ZeroDivisionError):
        enqueue_then_fail()

    assert waiting() == 0


def test_a_worker_runs_a_committed_job_that_writes_a_row() -> None:
    with transaction.atomic():
        record("ran", "1")

    run_queue()

    assert list(Record.objects.values_list("kind", "value")) == [("ran", "1")]


def test_an_atomic_task_that_raises_leaves_no_rows_and_enqueues_nothing() -> None:
    record_then_fail("atomic")

    run_queue()

    assert Record.objects.count() == 0
    assert waiting() == 0


def test_a_non_atomic_task_that_raises_keeps_the_rows_it_wrote() -> None:
    record_then_fail_without_atomic("plain")

    run_queue()

    assert list(Record.objects.values_list("kind", flat=True)) == ["plain"]


def test_the_atomic_jobs_setting_is_the_default_for_tasks_that_do_not_say() -> None:
    from dqueue_django.transactions import is_atomic

    assert is_atomic(record)
    with override_settings(DQUEUE_ATOMIC_JOBS=False):
        assert not is_atomic(record)
        assert is_atomic(record_then_fail)


def test_a_store_that_fails_after_the_commit_is_logged_and_other_callbacks_still_run(
    caplog: pytest.LogCaptureFixture,
) -> None:
    others: list[str] = []
    down = "dqtest_shop.backends.DownBackend"
    with override_settings(DQUEUE_BACKEND=down), transaction.atomic():
        handle = record("lost")
        transaction.on_commit(lambda: others.append("ran"))

    assert others == ["ran"]
    errors = [r for r in caplog.records if r.name == "dqueue.django" and r.levelname == "ERROR"]
    assert len(errors) == 1
    assert handle.id in errors[0].getMessage()


def test_the_django_wrappers_wrap_plain_tasks_and_leave_async_ones_concurrent() -> None:
    from dqueue import execution
    from dqueue_django import transactions

    assert transactions.atomic_call in execution._call_wrappers
    assert transactions.job_scope in execution._call_wrappers
    assert not execution.has_call_wrappers()  # none wraps async tasks: they may run at once
