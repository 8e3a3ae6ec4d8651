"""The HTTP server of the metrics endpoints, the metrics ports and settings, and what happens
without ``prometheus_client`` (none of these tests needs it installed)."""

from __future__ import annotations

import sys
import urllib.request

import pytest

from dqueue.cli import main
from dqueue.errors import ConfigurationError
from dqueue.metrics import Response, serve, worker_metrics_served
from dqueue.pool import WorkerSlot
from dqueue.runner import Runner
from dqueue.runner_metrics import worker_metrics_ports
from dqueue.settings import Settings
from dqueue.testing import free_port
from tests.support.http import get

SLOTS = [WorkerSlot("metered", 1), WorkerSlot("metered", 2), WorkerSlot("other", 1)]


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def without_prometheus_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # as if not installed


# -- the server ----------------------------------------------------------------------------------


def test_unknown_paths_are_404_and_head_has_no_body(port: int) -> None:
    stop = serve("127.0.0.1", port, {"/ping": lambda: Response.text("pong\n")}, what="t")
    assert stop is not None
    try:
        assert get(f"http://127.0.0.1:{port}/ping?x=1")[::2] == (200, "pong\n")
        status, _, body = get(f"http://127.0.0.1:{port}/nope")
        assert (status, "/ping" in body) == (404, True)
        assert get(f"http://127.0.0.1:{port}/ping", method="HEAD")[::2] == (200, "")
    finally:
        stop()


def test_a_route_that_raises_answers_500_and_the_server_keeps_serving(port: int) -> None:
    def broken() -> Response:
        raise RuntimeError("bug")

    routes = {"/broken": broken, "/ok": lambda: Response.text("ok\n")}
    stop = serve("127.0.0.1", port, routes, what="t")
    assert stop is not None
    try:
        assert get(f"http://127.0.0.1:{port}/broken")[0] == 500
        assert get(f"http://127.0.0.1:{port}/ok")[0] == 200
    finally:
        stop()


def test_json_routes_answer_json_that_no_one_caches(port: int) -> None:
    stop = serve("127.0.0.1", port, {"/j": lambda: Response.json({"b": 1})}, what="t")
    assert stop is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/j", timeout=30) as response:
            headers = response.headers
            assert (headers["Content-Type"], headers["Cache-Control"]) == (
                "application/json",
                "no-store",
            )
            assert response.read() == b'{"b": 1}\n'
    finally:
        stop()


def test_a_worker_without_a_port_runs_without_metrics() -> None:
    with worker_metrics_served(Settings(), "metered", 1, None) as metrics:
        assert metrics is None


# -- without prometheus_client -------------------------------------------------------------------


@pytest.mark.usefixtures("without_prometheus_client")
def test_a_metrics_port_without_prometheus_client_is_an_error_naming_the_extra(port: int) -> None:
    with (
        pytest.raises(ConfigurationError, match=r"dqueue-core\[prometheus\]"),
        worker_metrics_served(Settings(), "metered", 1, port),
    ):
        pass


@pytest.mark.usefixtures("without_prometheus_client")
def test_a_runner_with_prometheus_on_but_no_prometheus_client_starts_no_worker() -> None:
    settings = Settings(ENABLE_PROMETHEUS=True)
    runner = Runner(settings, SLOTS, worker_command=lambda slot: ["true"], check=False)
    with pytest.raises(ConfigurationError, match=r"pip install 'dqueue-core\[prometheus\]'"):
        runner.run()
    assert set(runner.start_counts().values()) == {0}


@pytest.mark.usefixtures("without_prometheus_client")
def test_a_worker_given_no_metrics_port_needs_no_prometheus_client() -> None:
    with worker_metrics_served(Settings(), "metered", 1, None) as metrics:
        assert metrics is None


# -- ports and settings --------------------------------------------------------------------------


def test_worker_ports_follow_the_start_port_from_one() -> None:
    ports = worker_metrics_ports(Settings(PROMETHEUS_START_PORT=9300), SLOTS)
    assert list(ports.values()) == [9301, 9302, 9303]


def test_a_start_port_without_room_for_every_worker_is_refused() -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_PROMETHEUS_START_PORT"):
        worker_metrics_ports(Settings(PROMETHEUS_START_PORT=65534), SLOTS)


@pytest.mark.parametrize("address", ["127.0.0.1", "0.0.0.0", "::", "::1", "localhost", "q-1.lan"])
def test_prometheus_address_accepts_ip_addresses_and_host_names(address: str) -> None:
    assert address == Settings(PROMETHEUS_ADDRESS=address).PROMETHEUS_ADDRESS


@pytest.mark.parametrize("address", ["", "two words", "http://host", "host:9300"])
def test_prometheus_address_refuses_what_cannot_be_listened_on(address: str) -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_PROMETHEUS_ADDRESS"):
        Settings(PROMETHEUS_ADDRESS=address)


@pytest.mark.parametrize("port", [0, 65536, -1])
def test_prometheus_start_port_must_be_a_tcp_port(port: int) -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_PROMETHEUS_START_PORT"):
        Settings(PROMETHEUS_START_PORT=port)


def test_metrics_are_off_by_default_on_loopback() -> None:
    settings = Settings()
    assert (settings.ENABLE_PROMETHEUS, settings.PROMETHEUS_ADDRESS) == (False, "127.0.0.1")


def test_dqueue_worker_refuses_a_metrics_port_that_is_not_a_tcp_port(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["worker", "metered", "--metrics-port", "70000"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1
    assert "--metrics-port: must be a TCP port" in error
