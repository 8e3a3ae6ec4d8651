"""Contract: the message API (:class:`dqueue.messages.MessageQueue`) on every backend."""

from __future__ import annotations

import pytest

from dqueue.backends.base import Backend
from dqueue.clock import ManualClock
from dqueue.messages import MessageQueue


def _inbox(backend: Backend, max_attempts: int = 3) -> MessageQueue:
    return MessageQueue("inbox", backend=backend, max_attempts=max_attempts)


def test_a_message_put_with_a_delay_is_got_once_due(backend: Backend, clock: ManualClock) -> None:
    inbox = _inbox(backend)
    message_id = inbox.put({"order": 42}, delay=30)
    assert inbox.get() is None

    clock.advance(30)
    message = inbox.get()

    assert message is not None
    assert (message.id, message.payload, message.attempt) == (message_id, {"order": 42}, 1)


def test_an_acked_message_is_gone(backend: Backend) -> None:
    inbox = _inbox(backend)
    inbox.put("hello")
    message = inbox.get()
    assert message is not None

    inbox.ack(message)

    assert inbox.get() is None
    assert len(inbox) == 0


def test_a_nacked_message_comes_back_after_its_delay(backend: Backend, clock: ManualClock) -> None:
    inbox = _inbox(backend)
    inbox.put("hello")
    first = inbox.get()
    assert first is not None

    inbox.nack(first, delay=10)

    assert inbox.get() is None
    clock.advance(10)
    again = inbox.get()
    assert again is not None
    assert (again.id, again.attempt) == (first.id, 2)


def test_a_message_nacked_at_its_last_attempt_is_dead_lettered(backend: Backend) -> None:
    inbox = _inbox(backend, max_attempts=1)
    message_id = inbox.put({"broken": True})
    message = inbox.get()
    assert message is not None

    inbox.nack(message, reason="cannot parse")

    assert inbox.get() is None
    letters = backend.dead_letters("inbox")
    assert [(letter.job.id, letter.failure.message) for letter in letters] == [
        (message_id, "cannot parse")
    ]


def test_a_message_put_is_counted_by_len(backend: Backend) -> None:
    inbox = _inbox(backend)

    inbox.put(1)
    inbox.put(2)

    assert len(inbox) == 2


@pytest.mark.parametrize("payload", [None, 0, "text", [1, [2]], {"nested": {"a": [1.5]}}])
def test_a_message_payload_survives_the_store(backend: Backend, payload: object) -> None:
    inbox = _inbox(backend)
    inbox.put(payload)

    message = inbox.get()

    assert message is not None
    assert message.payload == payload
