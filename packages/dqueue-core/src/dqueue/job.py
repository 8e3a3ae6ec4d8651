"""The job envelope: one versioned JSON document per job, on every backend.

A job is an immutable value. Backends store ``encode_job(job)`` and hand back
``decode_job(payload)``; workers never see anything else. The encoded envelope is a value of
its own, held by whoever encoded it: a job never caches it. Decoding ignores unknown keys (so a
rolling deploy can add fields) and refuses a payload without ``v``, ``id`` or ``task``.
"""

from __future__ import annotations

import json
import math
import os
import random
import secrets
import time
import traceback as traceback_module
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Final

from .errors import DecodeError, EncodeError
from .logs import printable

__all__ = [
    "ENVELOPE_VERSION",
    "MESSAGE_TASK",
    "Job",
    "JobFailure",
    "check_json_arguments",
    "check_json_value",
    "decode_job",
    "encode_job",
    "new_job_id",
]

ENVELOPE_VERSION: Final = 1

#: The task name of messages put through :mod:`dqueue.messages`; no worker runs it.
MESSAGE_TASK: Final = "dqueue.message"

_DEFAULT_QUEUE: Final = "default"


# Ids need to be unique, not secret: a generator seeded from the OS once per process (and again
# in a forked child, which would otherwise repeat its parent's sequence) saves a system call
# per id.
_random = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _random.seed(secrets.randbits(128)))


def new_job_id() -> str:
    """Return a new job id: 32 hex digits, time-ordered (48-bit milliseconds, 80 random bits).

    Ids sort by creation time, which keeps stores' indexes append-mostly.
    """
    millis = time.time_ns() // 1_000_000
    return f"{millis:012x}{_random.getrandbits(80):020x}"


@dataclass(frozen=True, slots=True, kw_only=True)
class JobFailure:
    """Why a run of a job failed, as data: never a pickled exception."""

    exception_type: str
    message: str
    traceback: str = ""
    at: float = 0.0
    attempt: int = 0

    @classmethod
    def from_exception(cls, exc: BaseException, *, at: float, attempt: int) -> JobFailure:
        """Describe ``exc`` (with its traceback) as a failure of run ``attempt``."""
        kind = type(exc)
        return cls(
            exception_type=f"{kind.__module__}.{kind.__qualname__}",
            message=str(exc),
            traceback="".join(traceback_module.format_exception(exc)),
            at=at,
            attempt=attempt,
        )

    @classmethod
    def from_reason(cls, kind: str, message: str, *, at: float, attempt: int) -> JobFailure:
        """Describe a failure that has no exception object (a lost lease, a killed worker).

        ``kind`` is usually a :class:`~dqueue.failures.FailureKind`; its value is stored.
        """
        return cls(exception_type=str(kind), message=message, at=at, attempt=attempt)

    def to_dict(self) -> dict[str, Any]:
        """Return the failure as a JSON-ready dictionary."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JobFailure:
        """Read a failure written by :meth:`to_dict`, ignoring unknown keys."""
        return cls(
            exception_type=str(data.get("exception_type", "")),
            message=str(data.get("message", "")),
            traceback=str(data.get("traceback", "")),
            at=float(data.get("at", 0.0)),
            attempt=int(data.get("attempt", 0)),
        )

    def summary(self) -> str:
        """One line: ``ValueError: bad input``."""
        short = self.exception_type.rsplit(".", 1)[-1]
        return f"{short}: {self.message}" if self.message else short


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    """One unit of work, as stored. Times are UTC epoch seconds.

    ``attempt`` counts the runs started so far: 0 when enqueued, 1 during the first run.
    ``run_after`` is ``None`` for a job that is due at once.
    """

    id: str
    task: str
    queue: str = _DEFAULT_QUEUE
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)
    enqueued_at: float = 0.0
    run_after: float | None = None
    attempt: int = 0
    max_attempts: int = 1
    timeout: float | None = None
    sigkill_on_stop: bool = False
    unique_key: str | None = None
    #: Seconds the unique key stays taken after the job is enqueued, even once it has run.
    #: ``None``: the key is free again as soon as the job is settled.
    unique_for: float | None = None
    priority: int = 0
    #: Seconds to keep the outcome for :meth:`Backend.result`; ``None`` keeps nothing.
    result_ttl: float | None = None
    #: Free-form JSON data for integrations (Django's Tasks framework, cron entries, tracing).
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def due_at(self) -> float:
        """When the job should start: ``run_after``, or the enqueue time."""
        return self.run_after if self.run_after is not None else self.enqueued_at

    def with_changes(self, **changes: Any) -> Job:
        """Return a copy with ``changes`` applied."""
        unknown = changes.keys() - _FIELD_SET
        if unknown:
            raise TypeError(f"Job has no field {', '.join(sorted(unknown))}")
        # dataclasses.replace() goes through __init__ and is slow on the hot path of every
        # reserve; copying the slots directly does the same for a frozen value.
        clone = object.__new__(Job)
        for name in _FIELD_NAMES:
            _set(clone, name, changes[name] if name in changes else getattr(self, name))
        return clone

    def to_dict(self) -> dict[str, Any]:
        """Return the envelope as a dictionary (``v`` first)."""
        return {
            "v": ENVELOPE_VERSION,
            "id": self.id,
            "task": self.task,
            "queue": self.queue,
            "args": list(self.args),
            "kwargs": dict(self.kwargs),
            "enqueued_at": self.enqueued_at,
            "run_after": self.run_after,
            "attempt": self.attempt,
            "max_attempts": self.max_attempts,
            "timeout": self.timeout,
            "sigkill_on_stop": self.sigkill_on_stop,
            "unique_key": self.unique_key,
            "unique_for": self.unique_for,
            "priority": self.priority,
            "result_ttl": self.result_ttl,
            "meta": dict(self.meta),
        }

    def describe(self) -> str:
        """A short label for logs and process titles; it never shows arguments (PII).

        Control characters of the name and id are escaped, so that a payload cannot forge a
        log line.
        """
        return printable(f"{self.task}[{self.id}]")


_FIELD_NAMES: Final = tuple(item.name for item in fields(Job))
_FIELD_SET: Final = frozenset(_FIELD_NAMES)
_set = object.__setattr__

_SEPARATORS: Final = (",", ":")
# One encoder for every job: json.dumps with options builds a new encoder per call.
_ENCODER: Final = json.JSONEncoder(separators=_SEPARATORS, ensure_ascii=False, allow_nan=False)


def encode_job(job: Job) -> str:
    """Serialise ``job`` to its JSON envelope.

    Raises:
        EncodeError: an argument is not JSON; the message names it.
    """
    try:
        return _ENCODER.encode(job.to_dict())
    except (TypeError, ValueError):
        check_json_arguments(job.args, job.kwargs, task=job.task)
        check_json_value(job.meta, where=f"meta of {job.task}")
        raise


def decode_job(payload: bytes | str) -> Job:
    """Read a job envelope.

    Raises:
        DecodeError: the payload is not JSON, has no ``v``/``id``/``task``, or a field has the
            wrong type. The error keeps the raw payload.
    """
    try:
        data = json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        raise DecodeError(f"job payload is not JSON: {exc}", payload) from exc
    if not isinstance(data, dict):
        raise DecodeError("job payload is not a JSON object", payload)
    missing = [key for key in ("v", "id", "task") if key not in data]
    if missing:
        raise DecodeError(f"job payload lacks {', '.join(missing)}", payload)
    if not isinstance(data["v"], int) or data["v"] > ENVELOPE_VERSION:
        raise DecodeError(f"job envelope version {data['v']!r} is not supported", payload)
    try:
        return _job_from_dict(data)
    except (TypeError, ValueError) as exc:
        raise DecodeError(f"job payload has a bad field: {exc}", payload) from exc


def _optional_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if type(value) is float and math.isfinite(value):  # the common case, checked first
        return value
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise TypeError(f"{name} must be a number or null, not {value!r}")
    return float(value)


def _job_from_dict(data: Mapping[str, Any]) -> Job:
    args = data.get("args", [])
    kwargs = data.get("kwargs", {})
    meta = data.get("meta") or {}
    if not isinstance(args, list):
        raise TypeError("args must be a list")
    if not isinstance(kwargs, dict):
        raise TypeError("kwargs must be an object")
    if not isinstance(meta, dict):
        raise TypeError("meta must be an object")
    job_id, task, queue = data["id"], data["task"], data.get("queue", _DEFAULT_QUEUE)
    for name, value in (("id", job_id), ("task", task), ("queue", queue)):
        if type(value) is not str or not value:
            raise TypeError(f"{name} must be a non-empty string")
    unique_key = data.get("unique_key")
    if unique_key is not None and not isinstance(unique_key, str):
        raise TypeError("unique_key must be a string or null")
    return Job(
        id=job_id,
        task=task,
        queue=queue,
        args=tuple(args),
        kwargs=kwargs,
        enqueued_at=_optional_float(data.get("enqueued_at"), "enqueued_at") or 0.0,
        run_after=_optional_float(data.get("run_after"), "run_after"),
        attempt=int(data.get("attempt", 0)),
        max_attempts=int(data.get("max_attempts", 1)),
        timeout=_optional_float(data.get("timeout"), "timeout"),
        sigkill_on_stop=bool(data.get("sigkill_on_stop", False)),
        unique_key=unique_key,
        unique_for=_optional_float(data.get("unique_for"), "unique_for"),
        priority=int(data.get("priority", 0)),
        result_ttl=_optional_float(data.get("result_ttl"), "result_ttl"),
        meta=meta,
    )


def _is_plain_json(value: Any) -> bool:
    """True for values made only of JSON's own types, which round-trip by construction.

    Exact type checks on purpose: a subclass (an IntEnum, a str Enum) comes back as its base
    type, so it takes the slow path, which explains what is wrong with it.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list or kind is tuple:
        return all(_is_plain_json(item) for item in value)
    if kind is dict:
        return all(type(key) is str and _is_plain_json(item) for key, item in value.items())
    return False


def check_json_value(value: Any, *, where: str) -> None:
    """Raise :class:`EncodeError` unless ``value`` comes back equal from a JSON round trip.

    Tuples are accepted (they come back as lists, as every JSON queue does).
    """
    if _is_plain_json(value):
        return
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"{where} is not JSON-serialisable: {exc}") from exc
    if not _same_after_round_trip(value, json.loads(text)):
        raise EncodeError(
            f"{where} does not survive a JSON round trip "
            "(dictionary keys must be strings; use plain str, int, float, bool, None, list, dict)"
        )


def check_json_arguments(args: tuple[Any, ...], kwargs: Mapping[str, Any], *, task: str) -> None:
    """Check each argument of a call of ``task``; the error names the first bad one."""
    if _is_plain_json(args) and _is_plain_json(kwargs):
        return
    for index, value in enumerate(args):
        check_json_value(value, where=f"argument {index} of {task}")
    for name, value in kwargs.items():
        check_json_value(value, where=f"argument {name!r} of {task}")


def _same_after_round_trip(before: Any, after: Any) -> bool:
    if isinstance(before, tuple | list):
        return (
            isinstance(after, list)
            and len(before) == len(after)
            and all(_same_after_round_trip(a, b) for a, b in zip(before, after, strict=True))
        )
    if isinstance(before, dict):
        return (
            isinstance(after, dict)
            and all(isinstance(key, str) for key in before)
            and before.keys() == after.keys()
            and all(_same_after_round_trip(before[key], after[key]) for key in before)
        )
    if isinstance(before, bool) or before is None:
        return before is after
    return type(before) is type(after) and bool(before == after)


def process_identity() -> str:
    """``host:pid``, for worker ids and logs."""
    return f"{os.uname().nodename}:{os.getpid()}"
