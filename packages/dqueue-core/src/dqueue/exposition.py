"""Serving metrics and health endpoints over HTTP, in daemon threads.

.. code-block:: python

    from dqueue.exposition import Response, start_server

    routes = {"/healthz": lambda: Response.json({"status": "ok"})}
    server = start_server("127.0.0.1", 9300, routes, what="runner metrics")
    ...
    if server is not None:
        server.close()

A tiny WSGI app on :mod:`wsgiref` routes each path; ``/metrics`` is ``prometheus_client``'s text
of a registry (:func:`metrics_route`). ``prometheus_client``'s own server answers every path with
metrics, so it can't serve ``/worker_config`` and ``/healthz`` beside them. A port that can't be
bound is one error in the log and ``None``: the caller carries on without its endpoints, since a
queue that stops because its metrics port is taken helps nobody. A route that raises gets a 500
and a logged traceback; an unknown path a 404 naming the known ones. The query string is ignored.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from types import ModuleType
from typing import TYPE_CHECKING, Any, Final
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from .errors import ConfigurationError
from .settings import Settings

if TYPE_CHECKING:
    from prometheus_client.registry import Collector

    from .metrics import WorkerMetrics

__all__ = [
    "MetricsServer",
    "Response",
    "Route",
    "host_for_targets",
    "metrics_route",
    "require_prometheus",
    "start_server",
    "worker_metrics_served",
]

_logger = logging.getLogger("dqueue.metrics")

_REQUEST_TIMEOUT_S: Final = 10.0  # a client that stalls mid-request doesn't hold a thread
_TEXT_FORMAT: Final = "text/plain; version=0.0.4; charset=utf-8"


def require_prometheus() -> ModuleType:
    """``prometheus_client``, or a :class:`ConfigurationError` naming the extra to install."""
    try:
        return importlib.import_module("prometheus_client")
    except ImportError as exc:
        raise ConfigurationError(
            "Prometheus metrics (DQUEUE_ENABLE_PROMETHEUS, --metrics-port) need prometheus_client:"
            " pip install 'dqueue-core[prometheus]'"
        ) from exc


@dataclass(frozen=True, slots=True)
class Response:
    """What a route answers."""

    status: int
    body: bytes
    content_type: str

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        """A JSON document."""
        return cls(status, (json.dumps(data, sort_keys=True) + "\n").encode(), "application/json")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        """Plain text."""
        return cls(status, text.encode(), "text/plain; charset=utf-8")


#: A route: called for each request of its path.
Route = Callable[[], Response]


def metrics_route(registry: Collector) -> Route:
    """``/metrics``: the text exposition format (0.0.4) of ``registry``."""
    from prometheus_client.exposition import generate_latest

    return lambda: Response(200, generate_latest(registry), _TEXT_FORMAT)


class _Server(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can hang on a box without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)
        self.setup_environ()


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(WSGIRequestHandler):
    timeout = _REQUEST_TIMEOUT_S

    def log_message(self, format: str, *args: Any) -> None:
        _logger.debug("%s %s", self.address_string(), format % args)


def _app(routes: Mapping[str, Route]) -> WSGIApplication:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        route = routes.get(path)
        if route is None:
            response = Response.text(f"not found; endpoints: {', '.join(sorted(routes))}\n", 404)
        else:
            try:
                response = route()
            except Exception:
                _logger.exception("endpoint %s failed", path)
                response = Response.text("internal error\n", status=500)
        start_response(
            f"{response.status} {HTTPStatus(response.status).phrase}",
            [
                ("Content-Type", response.content_type),
                ("Content-Length", str(len(response.body))),
                ("Cache-Control", "no-store"),
            ],
        )
        return [] if environ["REQUEST_METHOD"] == "HEAD" else [response.body]

    return app


class MetricsServer:
    """An HTTP server answering ``routes`` in a daemon thread; see :func:`start_server`."""

    def __init__(self, address: str, port: int, routes: Mapping[str, Route]) -> None:
        cls = _IPv6Server if ":" in address else _Server
        self._server = make_server(address, port, _app(routes), cls, _Handler)
        self.address = address
        self.port = self._server.server_port
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.5},
            name=f"dqueue-metrics-{self.port}",
            daemon=True,
        )
        self._thread.start()

    @property
    def url(self) -> str:
        """``http://host:port``, for logs and tests."""
        return f"http://{host_for_targets(self.address, bracket=True)}:{self.port}"

    def close(self) -> None:
        """Stop serving and free the port."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5.0)


def host_for_targets(address: str, *, bracket: bool = True) -> str:
    """The host that others reach a server bound to ``address`` at.

    This machine's name for a wildcard address (``0.0.0.0``, ``::``), the address itself
    otherwise (an IPv6 address in brackets when ``bracket``).
    """
    host = socket.gethostname() if address in ("", "0.0.0.0", "::") else address
    return f"[{host}]" if bracket and ":" in host else host


def start_server(
    address: str, port: int, routes: Mapping[str, Route], *, what: str
) -> MetricsServer | None:
    """Serve ``routes`` on ``address:port``; ``None`` (and one error logged) if it can't bind.

    Args:
        address: the address to listen on (``DQUEUE_PROMETHEUS_ADDRESS``).
        port: the TCP port.
        routes: ``path -> route``, e.g. ``{"/metrics": ...}``.
        what: names the server in the log (``"worker mail/1 metrics"``).
    """
    try:
        server = MetricsServer(address, port, routes)
    except OSError as exc:
        _logger.error(
            "cannot serve %s on %s:%d (%s); carrying on without them "
            "(see DQUEUE_PROMETHEUS_START_PORT and DQUEUE_PROMETHEUS_ADDRESS)",
            what,
            address,
            port,
            exc.strerror or exc,
        )
        return None
    _logger.info("serving %s at %s (%s)", what, server.url, ", ".join(sorted(routes)))
    return server


@contextlib.contextmanager
def worker_metrics_served(
    settings: Settings, queue: str, slot: int, port: int | None
) -> Iterator[WorkerMetrics | None]:
    """Serve a worker's ``/metrics`` on ``port`` for the block; yield its metrics hook.

    Yields ``None`` (the worker runs without metrics, at no cost) when ``port`` is ``None``, or
    when the port can't be bound (logged once as an error).

    Raises:
        ConfigurationError: a port is given and ``prometheus_client`` is not installed.
    """
    if port is None:
        yield None
        return
    require_prometheus()
    from .metrics import WorkerMetrics

    metrics = WorkerMetrics(queue)
    routes = {"/metrics": metrics_route(metrics.registry)}
    what = f"worker {queue}/{slot} metrics"
    server = start_server(settings.PROMETHEUS_ADDRESS, port, routes, what=what)
    if server is None:
        yield None
        return
    try:
        yield metrics
    finally:
        server.close()
