"""The job envelope: one versioned JSON document per job, on every backend.

A job is an immutable value: backends store ``encode_job(job)`` (held by its encoder, never
cached on the job) and hand back ``decode_job(payload)``, which ignores unknown keys (so a
rolling deploy can add fields).
"""

from __future__ import annotations

import json
import math
import operator
import os
import random
import secrets
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final

from .envelope_msgspec import msgspec_reader
from .errors import DecodeError, EncodeError
from .failures import JobFailure  # its home was this module: imports of it here still work
from .json_values import (
    MAX_NESTING,
    MAX_PAYLOAD_BYTES,
    check_json_arguments,
    check_json_value,
    decode_strict,
    is_task_name,
    may_nest_too_deep,
    nests_deeper_than,
    non_finite_fields,
    size_in_bytes,
)
from .logs import printable
from .unchecked import unchecked_builder

__all__ = [
    "ENVELOPE_VERSION",
    "MAX_ATTEMPTS",
    "MAX_NESTING",
    "MAX_PAYLOAD_BYTES",
    "MESSAGE_TASK",
    "PRIORITY_RANGE",
    "Job",
    "JobFailure",
    "check_json_arguments",
    "check_json_value",
    "decode_job",
    "encode_job",
    "field_problem",
    "new_job_id",
]

ENVELOPE_VERSION: Final = 1

#: The task name of messages put through :mod:`dqueue.messages`; no worker runs it.
MESSAGE_TASK: Final = "dqueue.message"

_DEFAULT_QUEUE: Final = "default"

#: The largest ``attempt`` and ``max_attempts``: a 32-bit count, exact in every store.
MAX_ATTEMPTS: Final = 2**31 - 1
#: The lowest and highest ``priority``; higher runs first among due jobs of one queue.
PRIORITY_RANGE: Final = (-100, 100)


# Ids need to be unique, not secret: seeding from the OS once per process (and in a forked
# child, lest it repeat its parent's ids) saves a system call per id.
_random = random.Random(secrets.randbits(128))
os.register_at_fork(after_in_child=lambda: _random.seed(secrets.randbits(128)))


def new_job_id() -> str:
    """A new job id: 32 hex digits, milliseconds then 80 random bits (sorted, indexes append)."""
    millis = time.time_ns() // 1_000_000
    return f"{millis:012x}{_random.getrandbits(80):020x}"


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
        # reserve; filling the slots directly does the same for a frozen value.
        values = list(_FIELD_VALUES(self))
        for name, value in changes.items():
            values[_FIELD_INDEX[name]] = value
        return _job_of(*values)

    def to_dict(self) -> dict[str, Any]:
        """Return the envelope as a dictionary: ``v``, then the fields in their order."""
        data = {"v": ENVELOPE_VERSION, **{name: getattr(self, name) for name in _FIELD_NAMES}}
        data.update(args=list(self.args), kwargs=dict(self.kwargs), meta=dict(self.meta))
        return data

    def describe(self) -> str:
        """A short label for logs and process titles; it never shows arguments (PII).

        Control characters of the name and id are escaped, so that a payload cannot forge a
        log line.
        """
        return printable(f"{self.task}[{self.id}]")


_LARGEST_FLOAT: Final = sys.float_info.max
_FIELD_NAMES: Final = tuple(item.name for item in fields(Job))
_FIELD_SET: Final = frozenset(_FIELD_NAMES)
_FIELD_INDEX: Final = {name: index for index, name in enumerate(_FIELD_NAMES)}
_FIELD_VALUES: Final = operator.attrgetter(*_FIELD_NAMES)  # a job's values, a tuple in order
# A job of all its fields' values, in order, already checked: built without the frozen
# __init__ (see dqueue.unchecked), for a Job per reserved job.
_job_of: Final = unchecked_builder(Job)
# With msgspec installed, a common envelope is read in C (see dqueue.envelope_msgspec).
_read_with_msgspec: Final = msgspec_reader(
    version=ENVELOPE_VERSION,
    max_count=MAX_ATTEMPTS,
    priorities=PRIORITY_RANGE,
    default_queue=_DEFAULT_QUEUE,
    build=_job_of,
)


_SEPARATORS: Final = (",", ":")
# One encoder for every job: json.dumps with options builds a new encoder per call.
_ENCODER: Final = json.JSONEncoder(separators=_SEPARATORS, ensure_ascii=False, allow_nan=False)


def encode_job(job: Job) -> str:
    """Serialise ``job`` to its JSON envelope, refusing what :func:`decode_job` would refuse.

    Raises:
        EncodeError: a value is not JSON or nests past :data:`MAX_NESTING`, a field is out of
            range, or the envelope is over :data:`MAX_PAYLOAD_BYTES`; the message names which.
    """
    problem = field_problem(job.task, job.attempt, job.max_attempts, job.priority)
    if problem:
        raise EncodeError(f"job {job.id}: {problem}")
    try:
        text = _ENCODER.encode(_envelope(job))
    except (TypeError, ValueError, RecursionError) as exc:  # json recurses once per level
        check_json_arguments(job.args, job.kwargs, task=job.task, meta=job.meta)  # names it
        raise EncodeError(f"a job of {job.task} cannot be encoded: {exc}") from exc
    if may_nest_too_deep(text):
        check_json_arguments(job.args, job.kwargs, task=job.task, meta=job.meta)
    if (size := size_in_bytes(text)) > MAX_PAYLOAD_BYTES:
        raise EncodeError(
            f"the envelope of a job of {job.task} is {size} bytes, "
            f"over the limit of {MAX_PAYLOAD_BYTES} bytes"
        )
    return text


def _envelope(job: Job) -> dict[str, Any]:
    """The envelope of ``job`` with the fields at their default left out.

    Every reader fills them in (:func:`decode_job` has since the first version), and a shorter
    document is quicker to write, to send and to read on every job: the JSON of a job with no
    arguments and no options halves.
    """
    data: dict[str, Any] = {"v": ENVELOPE_VERSION, "id": job.id, "task": job.task}
    data["queue"] = job.queue
    if job.args:
        data["args"] = list(job.args)
    if job.kwargs:
        data["kwargs"] = dict(job.kwargs)
    data["enqueued_at"] = job.enqueued_at
    if job.run_after is not None:
        data["run_after"] = job.run_after
    if job.attempt != 0:
        data["attempt"] = job.attempt
    if job.max_attempts != 1:
        data["max_attempts"] = job.max_attempts
    if job.timeout is not None:
        data["timeout"] = job.timeout
    if job.sigkill_on_stop is not False:
        data["sigkill_on_stop"] = job.sigkill_on_stop
    if job.unique_key is not None:
        data["unique_key"] = job.unique_key
    if job.unique_for is not None:
        data["unique_for"] = job.unique_for
    if job.priority != 0:
        data["priority"] = job.priority
    if job.result_ttl is not None:
        data["result_ttl"] = job.result_ttl
    if job.meta:
        data["meta"] = dict(job.meta)
    return data


def decode_job(payload: bytes | str, *, attempt: int | None = None) -> Job:
    """Read a job envelope, as strictly as :func:`encode_job` writes one.

    ``attempt``: the attempt that a store counts apart from the envelope (which keeps the one
    it was enqueued with), to build the job with it at once rather than copy it after; the
    envelope's own attempt is checked all the same.

    Raises:
        DecodeError: NaN or Infinity, counts not integers in range, times not finite, nesting
            past :data:`MAX_NESTING`, size over :data:`MAX_PAYLOAD_BYTES`, a task name not
            dotted, ... The message names the field, never its value (it may hold personal
            data); the error keeps the raw payload.
    """
    if _read_with_msgspec is not None:
        job = _read_with_msgspec(payload, attempt)
        if job is not None:
            return job
    if size_in_bytes(payload) > MAX_PAYLOAD_BYTES:
        raise DecodeError(f"job payload is over the limit of {MAX_PAYLOAD_BYTES} bytes", payload)
    try:
        text = payload if isinstance(payload, str) else payload.decode("utf-8")
        data = decode_strict(text)
    except RecursionError as exc:  # json's C scanner recurses once per level
        raise DecodeError("job payload is nested too deeply", payload) from exc
    except UnicodeDecodeError as exc:
        raise DecodeError(f"job payload is not UTF-8 text (byte {exc.start})", payload) from exc
    except ValueError as exc:
        where = non_finite_fields(text, _FIELD_NAMES)
        raise DecodeError(f"job payload is not JSON: {exc}{where}", payload) from exc
    if not isinstance(data, dict):
        raise DecodeError("job payload is not a JSON object", payload)
    if "v" not in data or "id" not in data or "task" not in data:
        missing = [key for key in ("v", "id", "task") if key not in data]
        raise DecodeError(f"job payload lacks {', '.join(missing)}", payload)
    version = data["v"]
    if type(version) is not int or not 1 <= version <= ENVELOPE_VERSION:
        raise DecodeError("job envelope version is not supported", payload)
    try:
        # Too deep for json itself is caught above; deep within its reach is found here.
        return _job_from_dict(data, deep=may_nest_too_deep(text), attempt=attempt)
    except (TypeError, ValueError, ArithmeticError) as exc:
        raise DecodeError(f"job payload has a bad field: {exc}", payload) from exc


def field_problem(task: Any, attempt: Any, max_attempts: Any, priority: Any) -> str:
    """What is wrong with the fields both sides check, without quoting a value (or ``""``)."""
    if type(task) is not str or not is_task_name(task):
        return "task must be a dotted Python name"
    if type(attempt) is not int or not 0 <= attempt <= MAX_ATTEMPTS:
        return f"attempt must be an integer from 0 to {MAX_ATTEMPTS}"
    if type(max_attempts) is not int or not 1 <= max_attempts <= MAX_ATTEMPTS:
        return f"max_attempts must be an integer from 1 to {MAX_ATTEMPTS}"
    low, high = PRIORITY_RANGE
    if type(priority) is not int or not low <= priority <= high:
        return f"priority must be an integer from {low} to {high}"
    return ""


def _integer(value: Any) -> Any:
    """An integral float (as another JSON writer may produce) as an int; anything else as is."""
    if type(value) is float and value.is_integer():
        return int(value)
    return value


def _optional_float(value: Any, name: str) -> float | None:
    if value is None:
        return None
    if type(value) is float and math.isfinite(value):  # the common case, checked first
        return value
    if type(value) is not int or not -_LARGEST_FLOAT <= value <= _LARGEST_FLOAT:  # bool too
        raise TypeError(f"{name} must be a finite number or null")
    return float(value)


def _job_from_dict(data: Mapping[str, Any], *, deep: bool, attempt: int | None = None) -> Job:
    args = data.get("args", [])
    kwargs = data.get("kwargs", {})
    meta = data.get("meta") or {}
    if not isinstance(args, list):
        raise TypeError("args must be a list")
    if not isinstance(kwargs, dict):
        raise TypeError("kwargs must be an object")
    if not isinstance(meta, dict):
        raise TypeError("meta must be an object")
    for name, value in (("args", args), ("kwargs", kwargs), ("meta", meta)) if deep else ():
        if nests_deeper_than(value, MAX_NESTING + 1):  # +1: the list of arguments
            raise ValueError(f"{name} is nested more than {MAX_NESTING} levels deep")
    job_id, task, queue = data["id"], data["task"], data.get("queue", _DEFAULT_QUEUE)
    for name, value in (("id", job_id), ("task", task), ("queue", queue)):
        if type(value) is not str or not value:
            raise TypeError(f"{name} must be a non-empty string")
    stored, max_attempts = data.get("attempt", 0), data.get("max_attempts", 1)
    priority = data.get("priority", 0)
    if not type(stored) is type(max_attempts) is type(priority) is int:
        stored, max_attempts, priority = map(_integer, (stored, max_attempts, priority))
        problem = field_problem(task, stored, max_attempts, priority)
    else:  # the common case, checked inline: this is the worker's hot path
        low, high = PRIORITY_RANGE
        in_range = 0 <= stored <= MAX_ATTEMPTS and 1 <= max_attempts <= MAX_ATTEMPTS
        good = in_range and low <= priority <= high and is_task_name(task)
        problem = "" if good else field_problem(task, stored, max_attempts, priority)
    if problem:
        raise ValueError(problem)
    unique_key = data.get("unique_key")
    if unique_key is not None and type(unique_key) is not str:
        raise TypeError("unique_key must be a string or null")
    sigkill_on_stop = data.get("sigkill_on_stop", False)
    if type(sigkill_on_stop) is not bool:
        raise TypeError("sigkill_on_stop must be true or false")
    return _job_of(  # in the order of Job's fields
        job_id,
        task,
        queue,
        tuple(args),
        kwargs,
        _optional_float(data.get("enqueued_at"), "enqueued_at") or 0.0,
        _optional_float(data.get("run_after"), "run_after"),
        stored if attempt is None else attempt,
        max_attempts,
        _optional_float(data.get("timeout"), "timeout"),
        sigkill_on_stop,
        unique_key,
        _optional_float(data.get("unique_for"), "unique_for"),
        priority,
        _optional_float(data.get("result_ttl"), "result_ttl"),
        meta,
    )
