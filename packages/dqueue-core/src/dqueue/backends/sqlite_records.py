"""Rows of the SQLite backend that are not jobs: result records and dead letters.

Everything is stored as JSON text, so the database can be read with the ``sqlite3`` shell.
The writers take a connection inside the caller's transaction.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from dataclasses import fields, replace
from typing import Final

from ..errors import DecodeError
from ..failures import FailureKind
from ..job import Job, JobFailure, decode_job, encode_job
from ..json_values import decode_progress
from .base import DeadLetter, JobResult, JobStatus
from .lifecycle import Step, dead_letter_from_decode_error, next_record

__all__ = [
    "FREE_UNIQUE",
    "bury",
    "bury_undecodable",
    "dead_letter_from_row",
    "failure_to_json",
    "record_progress",
    "record_result",
    "result_from_json",
    "result_to_json",
    "trim_dead",
]

#: Free a unique key held until its job is settled (one with ``unique_for`` keeps it).
FREE_UNIQUE: Final = "DELETE FROM uniques WHERE key = ? AND job_id = ? AND expires_at IS NULL"
_BURY: Final = (
    "INSERT OR REPLACE INTO dead (queue, id, payload, failure, died_at, raw)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)

_SEPARATORS = (",", ":")


def failure_to_json(failure: JobFailure) -> str:
    """The failure as JSON text."""
    return json.dumps(failure.to_dict(), separators=_SEPARATORS, ensure_ascii=False)


def _failure_from_json(text: str) -> JobFailure:
    try:
        data = json.loads(text)
    except ValueError:
        return JobFailure(exception_type=FailureKind.UNDECODABLE, message=text)
    if not isinstance(data, dict):
        return JobFailure(exception_type=FailureKind.UNDECODABLE, message=text)
    return JobFailure.from_dict(data)


def dead_letter_from_row(
    queue: str, payload: str, failure: str, died_at: float, raw: str | None
) -> DeadLetter:
    """A dead letter read back from its row; an undecodable payload comes back as raw text."""
    try:
        job = decode_job(payload)
    except DecodeError as exc:
        return dead_letter_from_decode_error(queue, payload, str(exc), died_at)
    return DeadLetter(job=job, failure=_failure_from_json(failure), died_at=died_at, raw=raw)


def result_to_json(record: JobResult) -> str:
    """The record as JSON text; a return value JSON can't hold is kept as its ``repr``."""
    data = {item.name: getattr(record, item.name) for item in fields(record)}
    data.update(
        status=record.status.value,
        failures=[failure.to_dict() for failure in record.failures],
        kwargs=dict(record.kwargs),
    )
    return json.dumps(data, separators=_SEPARATORS, ensure_ascii=False, default=repr)


def result_from_json(text: str) -> JobResult | None:
    """Read a record written by :func:`result_to_json`; ``None`` if it is damaged."""
    try:
        data = json.loads(text)
        data.update(
            status=JobStatus(data["status"]),
            failures=tuple(JobFailure.from_dict(item) for item in data.get("failures", ())),
            worker_ids=tuple(data.get("worker_ids", ())),
            args=tuple(data.get("args", ())),
        )
        return JobResult(**data)
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


def record_result(conn: sqlite3.Connection, step: Step, now: float) -> None:
    """Keep the record of ``step.job`` after ``step``, if it asked for one (``result_ttl``)."""
    job = step.job
    if job.result_ttl is None:
        return
    row = conn.execute("SELECT record FROM results WHERE job_id = ?", (job.id,)).fetchone()
    previous = result_from_json(row[0]) if row is not None else None
    record = next_record(previous, step)
    conn.execute(
        "INSERT OR REPLACE INTO results (job_id, record, expires_at) VALUES (?, ?, ?)",
        (job.id, result_to_json(record), now + job.result_ttl),
    )


def record_progress(conn: sqlite3.Connection, job_id: str, progress: str) -> None:
    """Keep ``progress`` (JSON text) in the result record of ``job_id``, if it keeps one."""
    row = conn.execute("SELECT record FROM results WHERE job_id = ?", (job_id,)).fetchone()
    record = result_from_json(row[0]) if row is not None else None
    if record is not None:
        record = replace(record, progress=decode_progress(progress))
        text = result_to_json(record)
        conn.execute("UPDATE results SET record = ? WHERE job_id = ?", (text, job_id))


def bury(conn: sqlite3.Connection, job: Job, failure: JobFailure, now: float) -> None:
    """Dead-letter ``job``, already removed from ``jobs``, with ``failure``."""
    conn.execute(_BURY, (job.queue, job.id, encode_job(job), failure_to_json(failure), now, None))


def bury_undecodable(
    conn: sqlite3.Connection, queue: str, job_id: str, raw: bytes, reason: str, now: float
) -> None:
    """Dead-letter a payload that is not a job envelope, keeping its raw text and the reason."""
    text = raw.decode("utf-8", errors="replace")
    letter = dead_letter_from_decode_error(queue, text, f"job {job_id}: {reason}", now)
    failure = failure_to_json(letter.failure)
    conn.execute(_BURY, (queue, letter.job.id, encode_job(letter.job), failure, now, text))


def trim_dead(conn: sqlite3.Connection, queues: Iterable[str], limit: int) -> None:
    """Keep only the newest ``limit`` dead letters of each of ``queues``."""
    for queue in queues:
        conn.execute(
            "DELETE FROM dead WHERE queue = :queue AND seq <= (SELECT seq FROM dead"
            " WHERE queue = :queue ORDER BY seq DESC LIMIT 1 OFFSET :keep)",
            {"queue": queue, "keep": limit},
        )
