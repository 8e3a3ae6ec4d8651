"""A small HTTP server for metrics and health endpoints, in daemon threads (stdlib only).

.. code-block:: python

    from dqueue.exposition import Response, start_server

    routes = {"/metrics": lambda: Response.metrics(render_my_metrics())}
    server = start_server("127.0.0.1", 9300, routes, what="runner metrics")
    ...
    if server is not None:
        server.close()

A port that can't be bound is one error in the log and ``None``: the caller carries on without
its endpoints, since a queue that stops because its metrics port is taken helps nobody. Each
request is answered in its own daemon thread; a route must not raise (one that does gets a 500
and a logged traceback). Only ``GET`` and ``HEAD`` are served, and the query string is ignored.
"""

from __future__ import annotations

import json
import logging
import socket
import socketserver
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Final

from .metrics import CONTENT_TYPE

__all__ = ["MetricsServer", "Response", "Route", "host_for_targets", "start_server"]

_logger = logging.getLogger("dqueue.metrics")

_REQUEST_TIMEOUT_S: Final = 10.0  # a client that stalls mid-request doesn't hold a thread


@dataclass(frozen=True, slots=True)
class Response:
    """What a route answers."""

    status: int
    body: bytes
    content_type: str

    @classmethod
    def metrics(cls, text: str) -> Response:
        """A 200 with Prometheus text."""
        return cls(200, text.encode(), CONTENT_TYPE)

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


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: Mapping[str, Route] = {}

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks up the host's FQDN, which can hang on a box without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = _REQUEST_TIMEOUT_S
    server_version = "dqueue"

    def do_GET(self) -> None:
        self._answer(with_body=True)

    def do_HEAD(self) -> None:
        self._answer(with_body=False)

    def _answer(self, *, with_body: bool) -> None:
        path = self.path.split("?", 1)[0]
        route = self.server.routes.get(path)
        if route is None:
            known = ", ".join(sorted(self.server.routes))
            response = Response.text(f"not found; endpoints: {known}\n", status=404)
        else:
            try:
                response = route()
            except Exception:
                _logger.exception("endpoint %s failed", path)
                response = Response.text("internal error\n", status=500)
        try:
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            if with_body:
                self.wfile.write(response.body)
        except OSError:
            pass  # the scraper hung up; nothing to tell it

    def log_message(self, format: str, *args: Any) -> None:
        _logger.debug("%s %s", self.address_string(), format % args)


class MetricsServer:
    """An HTTP server answering ``routes`` in a daemon thread; see :func:`start_server`."""

    def __init__(self, address: str, port: int, routes: Mapping[str, Route], *, what: str):
        cls = _IPv6Server if ":" in address else _Server
        self._server = cls((address, port), _Handler)
        self._server.routes = dict(routes)
        self.what = what
        self.address = address
        self.port = int(self._server.server_address[1])
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
        server = MetricsServer(address, port, routes, what=what)
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
