"""The core message API on top of the Redis backends, with real waiting."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from dqueue.errors import LeaseLost
from dqueue.messages import MessageQueue

GENEROUS_S = 20.0


def test_get_blocks_until_a_delayed_message_is_due(backend: Any) -> None:
    inbox = MessageQueue("inbox", backend=backend)
    due = time.time() + 0.2
    message_id = inbox.put({"order": 42}, delay=0.2)

    message = inbox.get(timeout=GENEROUS_S)

    assert message is not None
    assert (message.id, message.payload) == (message_id, {"order": 42})
    assert time.time() >= due
    inbox.ack(message)
    assert len(inbox) == 0


def test_get_returns_a_message_put_by_another_thread(
    backend: Any, wait_until_blocked: Callable[[int], None]
) -> None:
    inbox = MessageQueue("inbox", backend=backend)

    def put_once_get_waits() -> None:
        wait_until_blocked(1)
        inbox.put("hello")

    producer = threading.Thread(target=put_once_get_waits)
    producer.start()

    message = inbox.get(timeout=GENEROUS_S)

    producer.join()
    assert message is not None
    assert message.payload == "hello"


def test_a_message_nacked_with_a_delay_comes_back_with_its_attempt_counted(backend: Any) -> None:
    inbox = MessageQueue("inbox", backend=backend, max_attempts=3)
    inbox.put("retry me")
    first = inbox.get(timeout=GENEROUS_S)
    assert first is not None

    inbox.nack(first, delay=0.1)

    again = inbox.get(timeout=GENEROUS_S)
    assert again is not None
    assert (again.id, again.attempt) == (first.id, 2)


def test_acking_a_message_whose_lease_was_taken_over_raises_lease_lost(
    make_backend: Any,
) -> None:
    from dqueue.clock import ManualClock
    from dqueue_redis import ReliableRedisBackend

    clock = ManualClock()
    backend = make_backend(cls=ReliableRedisBackend, clock=clock)
    inbox = MessageQueue("inbox", backend=backend)
    inbox.put("slow")
    message = inbox.get()
    assert message is not None
    clock.advance(backend.options.lease_s + 1)
    backend.recover()

    with pytest.raises(LeaseLost):
        inbox.ack(message)
