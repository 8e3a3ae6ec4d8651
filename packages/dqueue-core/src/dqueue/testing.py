"""Helpers for tests of dqueue and of code built on it: one place, importable by users' tests.

- :func:`wait_for` polls a condition until it holds, failing with a message that says what was
  awaited and what was last seen (for waits on other threads and processes; logic of time is
  tested with a :class:`~dqueue.clock.ManualClock` instead).
- :class:`FailingBackend` wraps a real backend and raises
  :class:`~dqueue.errors.BackendUnavailable` on demand, to test what happens in an outage.
- :func:`free_port` finds free loopback TCP ports (one, or a run of consecutive ones).
- :func:`clean_settings` gives a block dqueue's defaults: no ``DQUEUE_*`` from the
  environment, no configured layer, no cached backend; everything restored afterwards.

Standard library only, and no test framework: with pytest, wrap :func:`clean_settings` in a
fixture::

    @pytest.fixture(autouse=True)
    def _dqueue_settings():
        with clean_settings():
            yield
"""

from __future__ import annotations

import contextlib
import inspect
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any, TypeVar

from .backends import close_backends
from .backends.base import Backend
from .errors import BackendUnavailable
from .settings import PREFIX, Settings, configure, invalidate_settings, reset_settings

__all__ = ["FailingBackend", "clean_settings", "free_port", "wait_for"]

T = TypeVar("T")

#: Long enough for a loaded CI machine shared by several jobs; a passing wait returns early.
DEFAULT_TIMEOUT_S = 60.0
_LOOPBACK = "127.0.0.1"
#: How much of a lambda's source a failure message quotes.
_SOURCE_SHOWN = 200


def wait_for(
    predicate: Callable[[], T],
    *,
    timeout: float | timedelta = DEFAULT_TIMEOUT_S,
    interval: float | timedelta = 0.02,
    what: str | None = None,
    ignore: tuple[type[BaseException], ...] = (),
    explain: Callable[[], str] | None = None,
) -> T:
    """Call ``predicate`` until it returns something truthy, and return that value.

    Args:
        predicate: the condition; called at once, then every ``interval``.
        timeout: how long to wait (seconds or a ``timedelta``) before failing.
        interval: the pause between two calls (seconds or a ``timedelta``).
        what: what is awaited, for the failure message (by default the predicate's source
            line, or its name).
        ignore: exceptions that mean "not yet" (a store that is still coming back); others
            propagate at once.
        explain: called on failure; its text ends the message (say, the tail of a log).

    Raises:
        AssertionError: ``timeout`` passed; the message names what was awaited and the last
            value or ignored error seen.
    """
    timeout_s = _seconds(timeout)
    interval_s = _seconds(interval)
    deadline = time.monotonic() + timeout_s
    last: str  # the predicate runs at least once, so this is always set when it is read
    while True:
        try:
            value = predicate()
        except ignore as exc:
            last = f"last error: {type(exc).__name__}: {exc}"
        else:
            if value:
                return value
            last = f"last value: {value!r}"
        if time.monotonic() >= deadline:
            break
        time.sleep(interval_s)
    message = f"timed out after {timeout_s:g} s waiting for {what or _describe(predicate)} ({last})"
    if explain is not None:
        message = f"{message}\n{explain()}"
    raise AssertionError(message)


def _seconds(value: float | timedelta) -> float:
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


def _describe(predicate: Callable[..., object]) -> str:
    """The source line of a lambda (its name says nothing), else the callable's qualified name."""
    name = getattr(predicate, "__qualname__", None) or repr(predicate)
    if name.endswith("<lambda>"):
        with contextlib.suppress(OSError, TypeError):
            return " ".join(inspect.getsource(predicate).split())[:_SOURCE_SHOWN]
    return str(name)


def free_port(*, consecutive: int = 1) -> int:
    """A TCP port free on 127.0.0.1 now, or the first of ``consecutive`` free ports in a row.

    A run of ports serves a runner whose worker slots listen on ``port``, ``port + 1``, ...
    Another process may take a port between this check and its use; tests that start servers
    retry on a port clash.

    Raises:
        OSError: no run of ``consecutive`` free ports was found.
    """
    if consecutive < 1:
        raise ValueError(f"consecutive must be at least 1, not {consecutive}")
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.bind((_LOOPBACK, 0))
            first = int(probe.getsockname()[1])
        if first + consecutive <= 65536 and _all_free(range(first + 1, first + consecutive)):
            return first
    raise OSError(f"found no {consecutive} consecutive free ports on {_LOOPBACK}")


def _all_free(ports: range) -> bool:
    with contextlib.ExitStack() as held:
        for port in ports:
            sock = held.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            try:
                sock.bind((_LOOPBACK, port))
            except OSError:
                return False
    return True


@contextlib.contextmanager
def clean_settings(**overrides: Any) -> Iterator[Settings]:
    """Run the block on dqueue's defaults (plus ``overrides``), then restore what was there.

    On entry: ``DQUEUE_*`` variables leave the environment, configured layers and cached
    backends are dropped, and ``overrides`` (short names: ``BACKEND=...``) are configured. On
    exit: backends built inside are closed, the layers are dropped again and the environment
    is put back. Under dqueue-django, Django's ``override_settings`` is the tool instead (its
    settings layer would be dropped here).

    Yields:
        The settings at the start of the block (rebuilt on next use, so ``DQUEUE_*`` variables
        set inside it take effect).
    """
    saved = {name: value for name, value in os.environ.items() if name.startswith(PREFIX)}
    for name in saved:
        del os.environ[name]
    _forget()
    try:
        entry = configure(**overrides)
        # Built lazily again on next use, so that variables a test sets inside count.
        invalidate_settings()
        yield entry
    finally:
        _forget()
        for name in [name for name in os.environ if name.startswith(PREFIX)]:
            del os.environ[name]
        os.environ.update(saved)


def _forget() -> None:
    reset_settings()
    close_backends()


def _failing(operation: str) -> Any:
    """The method ``operation`` of :class:`FailingBackend`: fail, or call the wrapped backend."""

    def method(self: FailingBackend, *args: Any, **kwargs: Any) -> Any:
        self._check(operation)
        return getattr(self.backend, operation)(*args, **kwargs)

    method.__name__ = method.__qualname__ = operation
    method.__doc__ = f"Fail, or call the wrapped backend's ``{operation}``."
    return method


class FailingBackend(Backend):
    """A real backend that fails on demand, raising ``BackendUnavailable`` as a lost store does.

    Every call goes to the wrapped backend until :meth:`fail` says which operations (by method
    name: ``"reserve"``, ``"settle"``, ``"enqueue_many"``...) fail, for how many calls::

        store = FailingBackend(MemoryBackend.from_settings(settings))
        store.fail("reserve", times=3)  # the next three reserves raise
        with store.down():  # every operation raises inside the block
            ...

    :attr:`failures` lists the operations that raised, in order. ``close`` never fails.
    Capability flags are the wrapped backend's. Thread-safe, as backends are.
    """

    def __init__(self, backend: Backend, *, message: str = "the store is down") -> None:
        super().__init__(backend.options, clock=backend.clock)
        #: The wrapped backend, reachable directly to look at the store behind the outage.
        self.backend = backend
        #: Operations that raised, in the order they did.
        self.failures: list[str] = []
        self._message = message
        self._lock = threading.Lock()
        # Failing calls left by operation ("" for every operation): None is "until restored".
        self._failing: dict[str, int | None] = {}
        for flag in _CAPABILITY_FLAGS:
            setattr(self, flag, getattr(backend, flag))

    @property
    def name(self) -> str:
        """The wrapped backend's name."""
        return self.backend.name

    def fail(self, *operations: str, times: int | None = None) -> None:
        """Make ``operations`` (every operation if none is named) raise from now on.

        Args:
            operations: method names; an unknown name is refused with a ``ValueError``.
            times: how many calls of each operation fail before they pass again; ``None``: all
                of them, until :meth:`restore`.
        """
        unknown = sorted(set(operations) - _OPERATIONS)
        if unknown:
            raise ValueError(f"no such backend operation: {', '.join(unknown)}")
        with self._lock:
            self._failing.update(dict.fromkeys(operations or ("",), times))

    def restore(self) -> None:
        """End the outage: every operation passes again (:attr:`failures` is kept)."""
        with self._lock:
            self._failing.clear()

    @contextlib.contextmanager
    def down(self, *operations: str) -> Iterator[FailingBackend]:
        """Fail ``operations`` (all if none named) inside the block; restore after it."""
        self.fail(*operations)
        try:
            yield self
        finally:
            self.restore()

    def _check(self, operation: str) -> None:
        with self._lock:
            key = operation if operation in self._failing else ""
            remaining = self._failing.get(key, 0)
            if remaining == 0:
                return
            if remaining is not None:
                self._failing[key] = remaining - 1
            self.failures.append(operation)
        raise BackendUnavailable(f"{operation}: {self._message}")

    def close(self) -> None:
        """Close the wrapped backend (never fails: tests clean up during outages too)."""
        self.backend.close()

    enqueue = _failing("enqueue")
    enqueue_many = _failing("enqueue_many")
    reserve = _failing("reserve")
    settle = _failing("settle")
    renew = _failing("renew")
    recover = _failing("recover")
    queues = _failing("queues")
    counts = _failing("counts")
    pause = _failing("pause")
    resume = _failing("resume")
    paused_until = _failing("paused_until")
    clear = _failing("clear")
    deduplicate = _failing("deduplicate")
    dead_letters = _failing("dead_letters")
    retry_dead = _failing("retry_dead")
    purge_dead = _failing("purge_dead")
    result = _failing("result")
    ping = _failing("ping")
    # The worker registry (dqueue.backends.workers): asked only of a backend that keeps one.
    beat = _failing("beat")
    forget = _failing("forget")
    workers = _failing("workers")


_CAPABILITY_FLAGS = tuple(
    name for name in vars(Backend) if name.startswith("supports_") or name == "runs_inline"
)
_OPERATIONS = frozenset(
    name
    for name, member in vars(FailingBackend).items()
    if inspect.isfunction(member) and not name.startswith("_")
) - {"fail", "restore", "down", "close"}
