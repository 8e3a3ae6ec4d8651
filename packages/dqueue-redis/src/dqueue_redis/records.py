"""What the backends store beside jobs, as the client writes and reads it.

Result records (hashes, one per job that asked for its result) and dead letters (JSON).
"""

from __future__ import annotations

import contextlib
import json
import math
from typing import Any

from dqueue.backends.base import DeadLetter, JobResult, JobStatus
from dqueue.backends.lifecycle import Step, dead_letter_from_decode_error, next_record
from dqueue.errors import DecodeError
from dqueue.job import Job, JobFailure, check_json_value, decode_job, encode_job
from dqueue.json_values import decode_progress

__all__ = ["dead_letter_json", "read_dead_letter", "read_result", "record_update"]

#: A record outlives its expiry (which the backend's clock decides) by this much before Redis
#: collects it, so that the record of a job that runs long is still there when it finishes.
_GC_GRACE_S = 3600.0


def record_update(step: Step, now: float, due: float) -> str:
    """The update of a result record after ``step`` that a script applies, or ``''`` (none kept).

    JSON ``[GC milliseconds, field, value, ...]``: the record that
    :func:`~dqueue.backends.lifecycle.next_record` makes of ``step`` alone, which the hash
    merges into what earlier steps wrote (failures and workers have a field per attempt, so
    they accumulate). ``due`` is when the job waits until, the expiry counting from then.

    Raises:
        EncodeError: a kept return value is not JSON; the message names the task.
    """
    job = step.job
    if job.result_ttl is None:
        return ""
    record = next_record(None, step)
    expires = max(now, due) + job.result_ttl
    values: list[Any] = [math.ceil((expires - now + _GC_GRACE_S) * 1000), "status"]
    values += [record.status.value, "task", job.task, "enqueued_at", repr(job.enqueued_at)]
    values += ["ttl", repr(job.result_ttl), "expires", repr(expires), "attempt", job.attempt]
    for failure in record.failures:
        values += [f"f:{job.attempt}", _json(failure.to_dict())]
    if record.finished_at is not None:
        values += ["finished_at", repr(record.finished_at)]
    if record.status is JobStatus.SUCCEEDED:
        check_json_value(record.return_value, where=f"the return value of {job.task}")
        values += ["value", _json(record.return_value)]
    return _json(values)


def _json(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def read_result(job_id: str, queue: str, raw: dict[bytes, bytes], now: float) -> JobResult | None:
    """The record stored in ``raw`` (a hash), or ``None`` when it is empty or expired."""
    fields = {key.decode(): value.decode() for key, value in raw.items()}
    if not fields or float(fields.get("expires", "0")) <= now:
        return None
    # Failures ("f:<attempt>") and workers ("w:<attempt>"), in the order of their attempts.
    history = sorted(
        (int(name[2:]), name[0], value)
        for name, value in fields.items()
        if name[:2] in ("f:", "w:") and name[2:].isdigit()
    )
    job: Job | None = None  # the job as enqueued; a record without a usable one has no args
    with contextlib.suppress(DecodeError, KeyError):
        job = decode_job(fields["payload"])
    return JobResult(
        job_id=job_id,
        status=JobStatus(fields["status"]),
        task=fields.get("task", ""),
        queue=queue,
        return_value=json.loads(fields["value"]) if "value" in fields else None,
        failures=tuple(JobFailure.from_dict(json.loads(v)) for _, k, v in history if k == "f"),
        enqueued_at=_optional_float(fields.get("enqueued_at")),
        started_at=_optional_float(fields.get("started_at")),
        finished_at=_optional_float(fields.get("finished_at")),
        attempt=int(float(fields.get("attempt", "0"))),
        worker_ids=tuple(dict.fromkeys(value for _, kind, value in history if kind == "w")),
        args=job.args if job is not None else (),
        kwargs=job.kwargs if job is not None else {},
        progress=decode_progress(fields.get("progress")),
    )


def _optional_float(value: str | None) -> float | None:
    return None if value is None else float(value)


def dead_letter_json(job: Job, failure: JobFailure, now: float) -> str:
    """The dead letter of ``job`` as stored: its payload, attempt, failure and time of death."""
    letter = {"payload": encode_job(job), "attempt": job.attempt, "died_at": now}
    return _json({**letter, "failure": failure.to_dict()})


def raw_dead_letter_json(payload: str, reason: str, now: float) -> str:
    """The dead letter of a payload that is not a job envelope."""
    return _json({"payload": payload, "reason": reason, "died_at": now})


def read_dead_letter(queue: str, letter_id: str, stored: bytes) -> DeadLetter:
    """A stored dead letter; one whose payload can't be decoded comes back with ``raw`` set."""
    text = stored.decode("utf-8", errors="replace")
    try:
        data = json.loads(text)
        payload = str(data["payload"])
        died_at = float(data.get("died_at", 0.0))
    except (ValueError, KeyError, TypeError):
        return dead_letter_from_decode_error(queue, text, "dead letter is not JSON", 0.0)
    reason = data.get("reason")
    try:
        if reason is not None:
            raise DecodeError(str(reason), payload)
        job = decode_job(payload)
    except DecodeError as exc:
        letter = dead_letter_from_decode_error(queue, payload, str(exc), died_at)
        stand_in = letter.job.with_changes(id=letter_id)
        return DeadLetter(job=stand_in, failure=letter.failure, died_at=died_at, raw=payload)
    attempt = int(data.get("attempt", job.attempt))
    failure = JobFailure.from_dict(data.get("failure") or {})
    return DeadLetter(job=job.with_changes(attempt=attempt), failure=failure, died_at=died_at)
