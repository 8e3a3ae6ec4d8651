"""``queue_worker --prometheus-port``: django-lightweight-queue's option, checked and served."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from dqtest_shop.models import Record
from dqtest_shop.tasks import record

from dqueue.backends import Backend
from dqueue.testing import free_port


def run(*args: str) -> None:
    call_command(*args, stdout=StringIO(), stderr=StringIO())


@pytest.mark.parametrize("port", ["0", "70000"])
def test_queue_worker_refuses_a_prometheus_port_that_is_not_a_tcp_port(
    memory_backend: Callable[[str], Backend], port: str
) -> None:
    refused = r"--prometheus-port/--metrics-port: must be a TCP port \(1-65535\)"
    with pytest.raises(CommandError, match=refused):
        run("queue_worker", "default", "--burst", "--prometheus-port", port)


def test_queue_worker_with_a_taken_prometheus_port_logs_it_and_still_runs_jobs(
    memory_backend: Callable[[str], Backend], caplog: pytest.LogCaptureFixture
) -> None:
    record("taken-port", "1")
    with socket.socket() as taken, caplog.at_level(logging.ERROR, logger="dqueue.metrics"):
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run("queue_worker", "default", "--burst", "--prometheus-port", str(port))
    assert list(Record.objects.values_list("value", flat=True)) == ["1"]
    assert caplog.text.count("cannot serve worker default/1 metrics") == 1


def test_queue_worker_serves_metrics_on_its_port_while_it_runs_then_frees_it(
    memory_backend: Callable[[str], Backend], caplog: pytest.LogCaptureFixture
) -> None:
    port = free_port()
    record("served", "1")
    record("served", "2")
    with caplog.at_level(logging.INFO, logger="dqueue.metrics"):
        run("queue_worker", "default", "--burst", "--prometheus-port", str(port))
    assert f"serving worker default/1 metrics at http://127.0.0.1:{port}" in caplog.text
    assert len(Record.objects.filter(kind="served")) == 2
    # The port is free again once the worker is done.
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
