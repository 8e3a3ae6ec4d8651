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
from collections.abc import Callable, Iterator, Sequence
from datetime import timedelta
from typing import Any, TypeVar

from .backends import close_backends
from .backends.base import Backend, DeadLetter, JobResult, Outcome, QueueCounts, control_of
from .errors import BackendUnavailable
from .job import Job
from .settings import Settings, configure, invalidate_settings, reset_settings

__all__ = ["FailingBackend", "clean_settings", "free_port", "wait_for"]

T = TypeVar("T")

#: Long enough for a loaded CI machine shared by several jobs; a passing wait returns early.
DEFAULT_TIMEOUT_S = 60.0
_ENV_PREFIX = "DQUEUE_"
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
    saved = {name: value for name, value in os.environ.items() if name.startswith(_ENV_PREFIX)}
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
        for name in [name for name in os.environ if name.startswith(_ENV_PREFIX)]:
            del os.environ[name]
        os.environ.update(saved)


def _forget() -> None:
    reset_settings()
    close_backends()


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
        self._all: int | None = 0
        self._operations: dict[str, int | None] = {}
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
            if operations:
                self._operations.update(dict.fromkeys(operations, times))
            else:
                self._all = times

    def restore(self) -> None:
        """End the outage: every operation passes again (:attr:`failures` is kept)."""
        with self._lock:
            self._all = 0
            self._operations.clear()

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
            failing = operation in self._operations
            remaining = self._operations[operation] if failing else self._all
            if remaining == 0:
                return
            if remaining is not None:
                if failing:
                    self._operations[operation] = remaining - 1
                else:
                    self._all = remaining - 1
            self.failures.append(operation)
        raise BackendUnavailable(f"{operation}: {self._message}")

    # -- the operations, each checked then passed on -----------------------------------------

    def enqueue(self, job: Job) -> str:
        """Fail, or enqueue through the wrapped backend."""
        self._check("enqueue")
        return self.backend.enqueue(job)

    def enqueue_many(self, jobs: Sequence[Job]) -> list[str]:
        """Fail, or enqueue through the wrapped backend."""
        self._check("enqueue_many")
        return self.backend.enqueue_many(jobs)

    def reserve(self, queue: str, *, worker_id: str, timeout_s: float, limit: int = 1) -> list[Job]:
        """Fail, or reserve from the wrapped backend."""
        self._check("reserve")
        return self.backend.reserve(queue, worker_id=worker_id, timeout_s=timeout_s, limit=limit)

    def settle(self, outcomes: Sequence[Outcome], *, worker_id: str) -> list[str]:
        """Fail, or settle through the wrapped backend."""
        self._check("settle")
        return self.backend.settle(outcomes, worker_id=worker_id)

    def renew(self, job_ids: Sequence[str], *, worker_id: str) -> list[str]:
        """Fail, or renew through the wrapped backend."""
        self._check("renew")
        return self.backend.renew(job_ids, worker_id=worker_id)

    def recover(self) -> int:
        """Fail, or recover through the wrapped backend."""
        self._check("recover")
        return self.backend.recover()

    def queues(self) -> list[str]:
        """Fail, or list the wrapped backend's queues."""
        self._check("queues")
        return control_of(self.backend).queues()

    def counts(self, queue: str) -> QueueCounts:
        """Fail, or count through the wrapped backend."""
        self._check("counts")
        return self.backend.counts(queue)

    def pause(self, queue: str, until: float | None) -> None:
        """Fail, or pause through the wrapped backend."""
        self._check("pause")
        control_of(self.backend).pause(queue, until)

    def resume(self, queue: str) -> None:
        """Fail, or resume through the wrapped backend."""
        self._check("resume")
        control_of(self.backend).resume(queue)

    def paused_until(self, queue: str) -> float | None:
        """Fail, or ask the wrapped backend."""
        self._check("paused_until")
        return control_of(self.backend).paused_until(queue)

    def clear(self, queue: str) -> int:
        """Fail, or clear through the wrapped backend."""
        self._check("clear")
        return control_of(self.backend).clear(queue)

    def deduplicate(self, queue: str) -> tuple[int, int]:
        """Fail, or deduplicate through the wrapped backend."""
        self._check("deduplicate")
        return control_of(self.backend).deduplicate(queue)

    def dead_letters(self, queue: str, *, limit: int = 100) -> list[DeadLetter]:
        """Fail, or list the wrapped backend's dead letters."""
        self._check("dead_letters")
        return control_of(self.backend).dead_letters(queue, limit=limit)

    def retry_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Fail, or retry dead letters through the wrapped backend."""
        self._check("retry_dead")
        return control_of(self.backend).retry_dead(queue, job_ids)

    def purge_dead(self, queue: str, job_ids: Sequence[str] | None = None) -> int:
        """Fail, or purge dead letters through the wrapped backend."""
        self._check("purge_dead")
        return control_of(self.backend).purge_dead(queue, job_ids)

    def result(self, job_id: str) -> JobResult | None:
        """Fail, or ask the wrapped backend."""
        self._check("result")
        return control_of(self.backend).result(job_id)

    def ping(self) -> None:
        """Fail, or ping the wrapped backend."""
        self._check("ping")
        self.backend.ping()

    def close(self) -> None:
        """Close the wrapped backend (never fails: tests clean up during outages too)."""
        self.backend.close()


_CAPABILITY_FLAGS = tuple(
    name for name in vars(Backend) if name.startswith("supports_") or name == "runs_inline"
)
_OPERATIONS = frozenset(
    name
    for name, member in vars(FailingBackend).items()
    if inspect.isfunction(member) and not name.startswith("_")
) - {"fail", "restore", "down", "close"}
