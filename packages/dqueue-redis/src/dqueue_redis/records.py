"""What the backends store beside jobs, as the client writes and reads it.

Result records (hashes, one per job that asked for its result) and dead letters (JSON).
"""

from __future__ import annotations

import json
import math
from typing import Any

from dqueue.backends.base import DeadLetter, JobResult, JobStatus
from dqueue.backends.lifecycle import dead_letter_from_decode_error
from dqueue.errors import DecodeError
from dqueue.job import Job, JobFailure, check_json_value, decode_job, encode_job

__all__ = ["dead_letter_json", "read_dead_letter", "read_result", "record_update"]

#: A record outlives its expiry (which the backend's clock decides) by this much before Redis
#: collects it, so that the record of a job that runs long is still there when it finishes.
_GC_GRACE_S = 3600.0


def record_update(job: Job, now: float, status: JobStatus, *fields: str, due: float = 0.0) -> str:
    """The update of ``job``'s result record that a script applies, or ``''`` (no record kept).

    ``fields`` alternate names and values; the job's own facts and the expiry are added.
    """
    if job.result_ttl is None:
        return ""
    ttl = job.result_ttl
    expires = max(now, due) + ttl
    gc_ms = math.ceil((expires - now + _GC_GRACE_S) * 1000)
    values: list[Any] = [gc_ms, "status", status.value, "task", job.task]
    values += ["enqueued_at", repr(job.enqueued_at), "ttl", repr(ttl), "expires", repr(expires)]
    values += fields
    return json.dumps(values, separators=(",", ":"), ensure_ascii=False)


def result_value(value: Any, job: Job) -> str:
    """A return value as stored in a record (JSON).

    Raises:
        EncodeError: the value is not JSON; the message names the task.
    """
    check_json_value(value, where=f"the return value of {job.task}")
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def failure_json(failure: JobFailure) -> str:
    """A failure as stored in records and dead letters."""
    return json.dumps(failure.to_dict(), separators=(",", ":"), ensure_ascii=False)


def read_result(job_id: str, queue: str, raw: dict[bytes, bytes], now: float) -> JobResult | None:
    """The record stored in ``raw`` (a hash), or ``None`` when it is empty or expired."""
    fields = {key.decode(): value.decode() for key, value in raw.items()}
    if not fields or float(fields.get("expires", "0")) <= now:
        return None
    failures: list[tuple[int, JobFailure]] = []
    workers: list[tuple[int, str]] = []
    for name, value in fields.items():
        kind, _, attempt = name.partition(":")
        if kind == "f" and attempt.isdigit():
            failures.append((int(attempt), JobFailure.from_dict(json.loads(value))))
        elif kind == "w" and attempt.isdigit():
            workers.append((int(attempt), value))
    worker_ids = list(dict.fromkeys(worker for _, worker in sorted(workers)))
    job = _recorded_job(fields.get("payload"))
    return JobResult(
        job_id=job_id,
        status=JobStatus(fields["status"]),
        task=fields.get("task", ""),
        queue=queue,
        return_value=json.loads(fields["value"]) if "value" in fields else None,
        failures=tuple(failure for _, failure in sorted(failures, key=lambda item: item[0])),
        enqueued_at=_optional_float(fields.get("enqueued_at")),
        started_at=_optional_float(fields.get("started_at")),
        finished_at=_optional_float(fields.get("finished_at")),
        attempt=int(float(fields.get("attempt", "0"))),
        worker_ids=tuple(worker_ids),
        args=job.args if job is not None else (),
        kwargs=job.kwargs if job is not None else {},
    )


def _recorded_job(payload: str | None) -> Job | None:
    """The job as enqueued, kept in its record; ``None`` for a record without a usable one."""
    if payload is None:
        return None
    try:
        return decode_job(payload)
    except DecodeError:
        return None


def _optional_float(value: str | None) -> float | None:
    return None if value is None else float(value)


def dead_letter_json(job: Job, failure: JobFailure, now: float) -> str:
    """The dead letter of ``job`` as stored: its payload, attempt, failure and time of death."""
    letter = {
        "payload": encode_job(job),
        "attempt": job.attempt,
        "failure": failure.to_dict(),
        "died_at": now,
    }
    return json.dumps(letter, separators=(",", ":"), ensure_ascii=False)


def raw_dead_letter_json(payload: str, reason: str, now: float) -> str:
    """The dead letter of a payload that is not a job envelope."""
    letter = {"payload": payload, "reason": reason, "died_at": now}
    return json.dumps(letter, separators=(",", ":"), ensure_ascii=False)


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
