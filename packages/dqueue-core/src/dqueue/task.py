"""Tasks: ``@task`` turns a function into something that enqueues itself.

.. code-block:: python

    from dqueue import task

    @task(queue="mail", timeout=30, max_attempts=5)
    def send_mail(to: str, subject: str) -> None: ...

    send_mail("ann@example.com", subject="hi")            # enqueue, returns a JobHandle
    send_mail.enqueue_in(timedelta(minutes=5), "ann@example.com", subject="later")
    send_mail.using(priority=10, unique_key="welcome:ann").enqueue("ann@example.com", "hi")
    send_mail.call("ann@example.com", subject="now")       # run inline, here
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, fields, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, cast, overload

from .backends import get_backend
from .clock import SYSTEM_CLOCK, Clock, to_epoch
from .enqueueing import bulk_enqueue, dispatch_one
from .errors import InvalidTask
from .job import Job, check_json_arguments, field_problem, new_job_id
from .registry import REGISTRY
from .settings import get_settings
from .task_checks import CallChecks
from .task_options import check_task_options

if TYPE_CHECKING:
    from .handle import JobHandle

__all__ = ["Task", "TaskOptions", "task"]

P = ParamSpec("P")
R = TypeVar("R")

DEFAULT_QUEUE = "default"


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskOptions:
    """How a task's jobs are built and run. ``None`` means "use the setting"."""

    queue: str = DEFAULT_QUEUE
    timeout: float | None = None
    sigkill_on_stop: bool = False
    max_attempts: int | None = None
    retry_backoff: float | None = None
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    unique: bool = False
    unique_for: float | None = None
    priority: int = 0
    result_ttl: float | None = None
    store_result: bool = False
    #: Options of installed plugins by name (see :mod:`dqueue.task_options`).
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Set only through Task.using(), for the calls made through its result: a delay (counted
    # from the enqueue) or an absolute run_after, and the job's own key, id and meta.
    delay: float | None = None
    run_after: float | None = None
    unique_key: str | None = None
    job_id: str | None = None
    meta: Mapping[str, Any] = field(default_factory=dict)


_PER_CALL = {"extra", "delay", "run_after", "unique_key", "job_id", "meta"}
_OWN_OPTIONS = frozenset(option.name for option in fields(TaskOptions)) - _PER_CALL

#: django-lightweight-queue took per-call options as keywords with this prefix; here they
#: would be stored as task arguments and break every run, so a call with one is refused.
_DLQ_PREFIX = "django_lightweight_queue_"
_DLQ_CALL_OPTIONS = ("queue", "timeout", "sigkill_on_stop")


def _seconds(value: timedelta | float | int, what: str) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    if isinstance(seconds, bool) or not isinstance(seconds, int | float):
        raise InvalidTask(f"{what} must be a number of seconds or a timedelta, not {value!r}")
    if not math.isfinite(seconds) or seconds < 0:
        raise InvalidTask(f"{what} must be 0 or more seconds, not {value!r}")
    return float(seconds)


def _validate_options(name: str, options: TaskOptions) -> None:
    if not isinstance(options.queue, str) or not options.queue:
        raise InvalidTask(f"task {name}: queue must be a non-empty string, not {options.queue!r}")
    if options.timeout is not None:
        _seconds(options.timeout, f"task {name}: timeout")
        if options.timeout == 0:
            raise InvalidTask(f"task {name}: timeout must be more than 0 seconds")
    if options.retry_backoff is not None:
        _seconds(options.retry_backoff, f"task {name}: retry_backoff")
    attempts = 1 if options.max_attempts is None else options.max_attempts
    if problem := field_problem(name, 0, attempts, options.priority):  # the envelope's rules
        raise InvalidTask(f"task {name}: {problem}")
    check_task_options(name, options.extra)


def _refuse_dlq_overrides(name: str, kwargs: Mapping[str, Any]) -> None:
    for key in kwargs:
        if key.startswith(_DLQ_PREFIX):
            option = key.removeprefix(_DLQ_PREFIX)
            given = f"{option}=..." if option in _DLQ_CALL_OPTIONS else "queue=..., timeout=..."
            raise TypeError(
                f"task {name}: {key}= is a django-lightweight-queue call option, not an "
                f"argument; call {name.rpartition('.')[2]}.using({given})(...) instead"
            )


def _task_name(fn: Callable[..., Any]) -> str:
    module = fn.__module__
    if module == "__main__":
        # A script run as `python -m pkg.mod` knows its importable name; workers need it.
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is not None and spec.name:
            module = spec.name
    return f"{module}.{fn.__qualname__}"


def _refuse_unreachable(name: str, queue: str, reason: str) -> None:
    """Refuse a job that only this process could run, unless its backend runs it here."""
    backend = get_backend(queue)
    if not backend.supports_workers:  # inline or in memory: this process runs the job
        return
    raise InvalidTask(
        f"task {name} cannot be enqueued on {backend.name}: {reason}, so a worker process can "
        "never import it. Define it in a module that workers import (DQUEUE_TASKS, --tasks, an "
        "app's tasks.py), or run the script as `python -m package.module`; nothing was stored"
    )


class Task(Generic[P, R]):
    """A registered function. Calling it enqueues a job and returns a :class:`JobHandle`."""

    __slots__ = ("__dict__", "_checks", "clock", "fn", "name", "options")

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        name: str | None = None,
        options: TaskOptions | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.fn = fn
        self.name = name or _task_name(fn)
        self.options = options or TaskOptions()
        self.clock = clock
        self._checks = CallChecks(fn, name_given=name is not None)
        self.__wrapped__ = fn
        self.__doc__ = fn.__doc__
        _validate_options(self.name, self.options)

    def __repr__(self) -> str:
        return f"<Task {self.name} queue={self.options.queue!r}>"

    # -- enqueueing ----------------------------------------------------------------------------

    def enqueue(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """Enqueue a job that calls the function with these arguments.

        Raises:
            SignatureMismatch: the arguments don't fit the function (a ``TypeError``, as a
                direct call would raise); nothing is stored.
            EncodeError: an argument does not survive JSON; nothing is stored.
            InvalidTask: the options are invalid (negative delay, unknown queue under
                ``DQUEUE_STRICT_QUEUES``); nothing is stored.
        """
        return dispatch_one(self.build_job(args, kwargs), options=self.options.extra)

    __call__ = enqueue

    def enqueue_in(
        self, delay: timedelta | float, /, *args: P.args, **kwargs: P.kwargs
    ) -> JobHandle:
        """Enqueue a job that becomes due ``delay`` (seconds or a timedelta) from now."""
        return self.using(delay=delay).enqueue(*args, **kwargs)

    def enqueue_at(self, when: datetime, /, *args: P.args, **kwargs: P.kwargs) -> JobHandle:
        """Enqueue a job that becomes due at ``when`` (an aware datetime)."""
        return self.using(run_after=when).enqueue(*args, **kwargs)

    def call(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function here and now, without a queue, and return its result."""
        return self.fn(*args, **kwargs)

    def using(
        self,
        *,
        queue: str | None = None,
        delay: timedelta | float | None = None,
        run_after: datetime | timedelta | float | None = None,
        priority: int | None = None,
        unique_key: str | None = None,
        unique_for: timedelta | float | None = None,
        timeout: timedelta | float | None = None,
        max_attempts: int | None = None,
        sigkill_on_stop: bool | None = None,
        result_ttl: timedelta | float | None = None,
        job_id: str | None = None,
        meta: Mapping[str, Any] | None = None,
        **plugin_options: Any,
    ) -> Task[P, R]:
        """Return this task with options changed for the calls made through it (not the task).

        ``run_after``: an aware datetime, or like ``delay`` a timedelta or seconds from the
        enqueue; ``plugin_options``: installed plugins' task options.
        """
        given: dict[str, Any] = {"queue": queue, "priority": priority, "max_attempts": max_attempts}
        given |= {"sigkill_on_stop": sigkill_on_stop, "unique_key": unique_key, "job_id": job_id}
        changes: dict[str, Any] = {k: v for k, v in given.items() if v is not None}
        for name, seconds in (("timeout", timeout), ("unique_for", unique_for)):
            if seconds is not None:
                changes[name] = _seconds(seconds, name)
        if result_ttl is not None:
            changes |= {"result_ttl": _seconds(result_ttl, "result_ttl"), "store_result": True}
        if plugin_options:
            changes["extra"] = {**self.options.extra, **plugin_options}
        if isinstance(run_after, datetime):
            try:
                changes |= {"run_after": to_epoch(run_after), "delay": None}
            except ValueError as exc:
                raise InvalidTask(f"run_after: {exc}") from exc
        elif (seconds := delay if run_after is None else run_after) is not None:
            what = "delay" if run_after is None else "run_after"
            changes |= {"delay": _seconds(seconds, what), "run_after": None}
        if meta is not None:
            changes["meta"] = {**self.options.meta, **meta}
        options = replace(self.options, **changes)
        derived = Task(self.fn, name=self.name, options=options, clock=self.clock)
        derived._checks = self._checks  # the function's signature is read once per task
        return derived

    # -- jobs ------------------------------------------------------------------------------------

    def build_job(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Job:
        """Build (and check) the job that a call with these arguments would enqueue.

        Raises:
            SignatureMismatch: the function cannot take these arguments (a ``TypeError``).
            EncodeError: an argument does not survive JSON; the message names it.
            InvalidTask: an option is invalid, or the function is one that no worker process
                can import (defined in ``__main__`` or a shell) and the queue's backend hands
                jobs to worker processes.
            TypeError: a keyword is a django-lightweight-queue call option (``using()``'s).
        """
        _refuse_dlq_overrides(self.name, kwargs)  # before the signature: it says what to do
        self._checks.check_arguments(self.name, args, kwargs)
        settings = get_settings()
        options = self.options
        if (reason := self._checks.unreachable()) is not None:
            _refuse_unreachable(self.name, options.queue, reason)
        if settings.STRICT_QUEUES and options.queue not in settings.WORKERS:
            raise InvalidTask(
                f"task {self.name}: queue {options.queue!r} is not in DQUEUE_WORKERS "
                "(DQUEUE_STRICT_QUEUES is on)"
            )
        check_json_arguments(tuple(args), kwargs, task=self.name, meta=options.meta)
        now = self.clock.time()
        # using() keeps one of the two: a delay (relative to now) or an absolute run_after.
        run_after = now + options.delay if options.delay else options.run_after
        unique_key = options.unique_key
        if unique_key is None and options.unique:  # derived from the name and the arguments
            canonical = json.dumps([list(args), kwargs], sort_keys=True, separators=(",", ":"))
            digest = hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()
            unique_key = f"{self.name}:{digest}"
        result_ttl = None
        if options.store_result:
            result_ttl = settings.RESULT_TTL if options.result_ttl is None else options.result_ttl
        return Job(
            id=options.job_id or new_job_id(),
            task=self.name,
            queue=options.queue,
            args=tuple(args),
            kwargs=dict(kwargs),
            enqueued_at=now,
            run_after=run_after,
            max_attempts=options.max_attempts or settings.DEFAULT_MAX_ATTEMPTS,
            timeout=options.timeout,
            sigkill_on_stop=options.sigkill_on_stop,
            unique_key=unique_key,
            unique_for=options.unique_for,
            priority=options.priority,
            result_ttl=result_ttl,
            meta=dict(options.meta),
        )

    @contextlib.contextmanager
    def bulk_enqueue(
        self, batch_size: int = 1000, queue_override: str | None = None
    ) -> Iterator[Callable[P, JobHandle]]:
        """django-lightweight-queue's bulk API: the task's enqueue, in a :func:`bulk_enqueue`.

        Jobs are sent ``batch_size`` at a time.
        """
        target = self.using(queue=queue_override) if queue_override else self
        with bulk_enqueue(batch_size):
            yield target.enqueue


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    queue_name: str | None = None,
    /,
    *,
    queue: str = DEFAULT_QUEUE,
    timeout: float | None = None,
    sigkill_on_stop: bool = False,
    max_attempts: int | None = None,
    retry_backoff: float | None = None,
    retry_on: tuple[type[BaseException], ...] = (Exception,),
    unique: bool = False,
    unique_for: float | None = None,
    priority: int = 0,
    store_result: bool = False,
    result_ttl: float | None = None,
    name: str | None = None,
    **options: Any,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | str | None = None, /, *, name: str | None = None, **options: Any
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Register a function as a task. Use as ``@task``, ``@task("mail")`` or ``@task(queue=...)``.

    Args:
        fn: the function, when used bare as ``@task``; or the queue's name, as in
            django-lightweight-queue's ``@task("mail")`` (the same as ``queue="mail"``).
        queue: the queue its jobs go to (``"default"``).
        timeout: seconds one run may take; past it the run is stopped and counts as failed
            (the worker process is replaced if the task does not stop).
        sigkill_on_stop: on shutdown, kill a run of this task at once instead of letting it end.
        max_attempts: runs before a failing job goes to the dead letters
            (``DQUEUE_DEFAULT_MAX_ATTEMPTS``).
        retry_backoff: base seconds of the exponential backoff between attempts
            (``DQUEUE_RETRY_BACKOFF``).
        retry_on: the exceptions that earn another attempt; others dead-letter at once.
        unique: derive a unique key from the arguments, so that a duplicate enqueue returns
            the pending job's id instead of storing a second job.
        unique_for: keep the unique key taken this many seconds after enqueue, even once the
            job has run (``None``: until the job is settled).
        priority: -100 to 100; higher runs first among due jobs of one queue.
        store_result: keep the outcome for ``JobHandle.result()`` (``result_ttl`` seconds,
            ``DQUEUE_RESULT_TTL`` by default).
        result_ttl: seconds to keep the outcome; implies ``store_result``.
        name: the registered name; ``module.qualname`` by default.
        **options: task options of installed plugins (:mod:`dqueue.task_options`), such as a
            framework's transaction options; any other name is a ``TypeError``.
    """
    if isinstance(fn, str):
        if "queue" in options:
            raise TypeError(f"@task({fn!r}, queue=...) names the queue twice; give one of them")
        options["queue"], fn = fn, None
    elif fn is not None and not callable(given := cast(object, fn)):  # the types can't stop it
        kind = type(given).__name__
        raise TypeError(f"@task takes a function or a queue name first, not {given!r} ({kind})")
    # The overloads above type the keywords; here the core's own go to TaskOptions and the
    # rest are plugins' options (checked, with any unknown name refused, by the Task).
    own = {key: options.pop(key) for key in _OWN_OPTIONS & options.keys()}
    if own.get("timeout") is not None:
        own["timeout"] = _seconds(own["timeout"], "timeout")
    own["retry_on"] = tuple(own.get("retry_on", (Exception,)))
    own["store_result"] = own.get("store_result", False) or own.get("result_ttl") is not None
    task_options = TaskOptions(**own, extra=options)

    def decorate(function: Callable[P, R]) -> Task[P, R]:
        if not callable(function):
            raise InvalidTask(f"@task decorates a function, not {function!r}")
        created = Task(function, name=name, options=task_options)
        REGISTRY.register(created)
        return created

    if fn is not None:
        return decorate(fn)
    return decorate
