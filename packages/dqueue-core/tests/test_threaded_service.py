"""``ThreadedService``: the thread that the cron scheduler and the outbox relay run in."""

from __future__ import annotations

import logging
import threading

import pytest

from dqueue.services import ThreadedService
from dqueue.testing import wait_for

_logger = logging.getLogger("dqueue.test.service")


class _Flaky(ThreadedService):
    """Raises on its first tick, then counts ticks and waits ``delay_s`` between them."""

    def __init__(self) -> None:
        super().__init__("flaky service", _logger)
        self.ticks = 0
        self.second = threading.Event()

    def tick(self) -> int:
        self.ticks += 1
        if self.ticks == 1:
            raise RuntimeError("a bug")
        self.second.set()
        self.delay_s = 60.0  # only stop() ends this wait
        return self.ticks


def test_a_tick_that_raises_is_logged_and_the_thread_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    service = _Flaky()
    service.delay_s = 0.0
    with caplog.at_level(logging.ERROR, logger=_logger.name):
        service.start()
        assert service.running
        # The failed tick waits 30 s: cut it short by ticking once by hand instead.
        wait_for(lambda: "flaky service: tick failed" in caplog.text, what="the failure log")
    assert service.running  # the thread outlived the failure, waiting to try again
    assert service.tick() == 2
    assert service.second.is_set()
    service.stop(timeout_s=5)
    assert not service.running


def test_stop_ends_the_wait_between_ticks_at_once() -> None:
    service = _Flaky()
    service.ticks = 1  # past the failing tick
    service.start()
    service.start()  # a second start is a no-op: still one thread
    wait_for(service.second.is_set, what="the first tick")
    assert [t.name for t in threading.enumerate()].count("dqueue-flaky-service") == 1
    service.stop(timeout_s=5)
    assert not service.running
