"""What ``dqueue jobs`` and ``dqueue job`` print (and ``manage.py queue_jobs``/``queue_job``).

Each answer of :mod:`dqueue.ops.jobs` becomes JSON-ready data (``--json``) or text. Everything
a payload put there is untrusted: in text, task names, ids, arguments, failure messages and
return values have their control characters escaped (:func:`dqueue.logs.printable`), and a
payload that does not decode is shown only as its escaped, shortened preview
(:func:`~dqueue.ops.inspection.raw_preview`), as the dead letter listings show it. JSON is
printed with ``ensure_ascii``, which escapes the same characters.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from datetime import UTC, tzinfo
from typing import Any

from ..backends.base import JobResult
from ..backends.inspection import JobPage, JobState, JobView
from ..clock import to_datetime
from ..job import JobFailure
from ..logs import printable
from ..tables import table
from .inspection import failure_summary, raw_preview
from .jobs import JobDetail, state_name

__all__ = ["job_data", "job_detail_data", "job_page_data", "render_job", "render_jobs"]

#: How much of a failure's first line a jobs table shows, in characters.
_SUMMARY_CHARS = 120


def _iso(epoch: float | None, tz: tzinfo | None = None) -> str | None:
    if epoch is None:
        return None
    return to_datetime(epoch).astimezone(tz or UTC).isoformat(timespec="seconds")


def _text(value: Any) -> str:
    """A JSON value as one printable line: arguments, return values, meta."""
    return printable(json.dumps(value, ensure_ascii=False, default=repr))


def _failures(detail: JobDetail) -> list[JobFailure]:
    """Every failure known of the job, oldest first: the result record's and the dead letter's."""
    found = list(detail.result.failures) if detail.result is not None else []
    last = detail.view.failure if detail.view is not None else None
    if last is not None and last not in found:
        found.append(last)
    return found


def job_data(view: JobView) -> dict[str, Any]:
    """One stored job as JSON-ready data (times in UTC, ISO 8601), a row of ``jobs --json``."""
    job = view.job
    return {
        "id": job.id,
        "task": job.task,
        "queue": job.queue,
        "state": view.state.value,
        "due_at": _iso(view.due_at),
        "enqueued_at": _iso(job.enqueued_at),
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "priority": job.priority,
        "worker_id": view.worker_id,
        "lease_until": _iso(view.lease_until),
        "cancelled": view.cancelled,
        "progress": view.progress,
        "failure": None if view.failure is None else view.failure.to_dict(),
        "args": list(job.args),
        "kwargs": dict(job.kwargs),
        "meta": dict(job.meta),
        "raw": None if view.raw is None else raw_preview(view.raw),
    }


def job_page_data(page: JobPage, queue: str, state: JobState) -> dict[str, Any]:
    """A page of ``jobs --json``: the jobs, and the cursor of the next page (``None``: last)."""
    return {
        "queue": queue,
        "state": state.value,
        "jobs": [job_data(view) for view in page.views],
        "cursor": page.cursor,
    }


def _result_data(record: JobResult) -> dict[str, Any]:
    return {
        "status": record.status.value,
        "return_value": record.return_value,
        "enqueued_at": _iso(record.enqueued_at),
        "started_at": _iso(record.started_at),
        "finished_at": _iso(record.finished_at),
        "attempt": record.attempt,
        "worker_ids": list(record.worker_ids),
        "progress": record.progress,
    }


def job_detail_data(detail: JobDetail) -> dict[str, Any]:
    """``job --json``: the stored job (or what its result record says), every failure, result.

    ``state`` is ``None`` for a job no longer stored (finished, its result record kept).
    ``progress`` is what its running task reported last: the run in flight's, else the one its
    result record kept (``None``: none reported, or the store keeps none).
    """
    record = detail.result
    if detail.view is not None:
        data = job_data(detail.view)
        del data["failure"]
    elif record is not None:
        data = {
            "id": detail.job_id,
            "task": record.task,
            "queue": record.queue,
            "state": None,
            "due_at": None,
            "enqueued_at": _iso(record.enqueued_at),
            "attempt": record.attempt,
            "args": list(record.args),
            "kwargs": dict(record.kwargs),
        }
    else:  # find_job never returns a detail without either
        raise ValueError(f"nothing is known of job {detail.job_id}")
    data["failures"] = [failure.to_dict() for failure in _failures(detail)]
    data["result"] = None if record is None else _result_data(record)
    data["progress"] = _progress(detail)
    return data


def _progress(detail: JobDetail) -> Any:
    """The last progress reported: that of the run in flight, else its result record's."""
    view, record = detail.view, detail.result
    if view is not None and view.state is JobState.IN_FLIGHT:
        return view.progress
    return None if record is None else record.progress


def render_jobs(
    page: JobPage, state: JobState, *, tz: tzinfo | None = None, next_page: str = ""
) -> str:
    """A page of jobs as a table (arguments are not shown).

    When there is a next page, a hint under the table shows ``next_page`` (a command line)
    followed by ``--cursor`` and the page's cursor, quoted for a shell.
    """
    if not page.views:
        return f"No {state_name(state)} jobs."
    header = ["id", "task", "due at", "attempt"]
    if state is JobState.IN_FLIGHT:
        header += ["worker", "lease until", "cancelled", "progress"]
    elif state is JobState.DEAD:
        header += ["failure"]
    rows = [_row(view, state, tz) for view in page.views]
    lines = [table(header, rows, right=set())]
    if page.cursor is not None:
        # Quoted for a shell: a store's cursor may hold brackets and quotes (JSON).
        lines += ["", f"More: {next_page} --cursor {shlex.quote(printable(page.cursor))}"]
    return "\n".join(lines)


def _row(view: JobView, state: JobState, tz: tzinfo | None) -> list[str]:
    job = view.job
    row = [
        printable(job.id),
        printable(job.task),
        _iso(view.due_at, tz) or "-",
        f"{job.attempt}/{job.max_attempts}",
    ]
    if state is JobState.IN_FLIGHT:
        lease = _iso(view.lease_until, tz) or "-"
        row += [printable(view.worker_id or "-"), lease, "yes" if view.cancelled else "-"]
        progress = "-" if view.progress is None else _text(view.progress)
        row.append(progress[:_SUMMARY_CHARS])
    elif state is JobState.DEAD:
        summary = "-" if view.failure is None else failure_summary(view.failure)
        row += [printable(summary[:_SUMMARY_CHARS])]
    return row


def _fields(pairs: Sequence[tuple[str, str]]) -> list[str]:
    # One width for every job, so that two jobs' pages line up: the longest label's.
    return [f"{name + ':':<12} {value}" for name, value in pairs]


def render_job(detail: JobDetail, *, tz: tzinfo | None = None) -> str:
    """One job as text: what ``job_detail_data`` holds, times in ``tz`` (UTC by default)."""
    data = job_detail_data(detail)
    view, record = detail.view, detail.result
    state = "finished (no longer queued)" if view is None else state_name(view.state)
    if view is not None and view.cancelled:
        state += " (cancelled: this run goes on, it will not be retried)"
    pairs = [
        ("id", printable(detail.job_id)),
        ("task", printable(data["task"])),
        ("queue", printable(data["queue"])),
        ("state", state),
    ]
    if view is not None:
        pairs += [
            ("due at", _iso(view.due_at, tz) or "-"),
            ("enqueued at", _iso(view.job.enqueued_at, tz) or "-"),
            ("attempts", f"{view.job.attempt} of {view.job.max_attempts}"),
        ]
        if view.worker_id is not None:
            pairs.append(("worker", printable(view.worker_id)))
        if view.lease_until is not None:
            pairs.append(("lease until", _iso(view.lease_until, tz) or "-"))
    if data["progress"] is not None:
        pairs.append(("progress", _text(data["progress"])))
    if view is not None and view.raw is not None:
        pairs.append(("raw payload", raw_preview(view.raw)))
    else:
        pairs += [("args", _text(data["args"])), ("kwargs", _text(data["kwargs"]))]
        if data.get("meta"):
            pairs.append(("meta", _text(data["meta"])))
    if record is not None:
        pairs += _result_fields(record, tz)
    failures = _failures(detail)
    lines = _fields(pairs)
    if failures:
        lines.append("failures:")
        lines += [
            f"  attempt {failure.attempt} at {_iso(failure.at, tz)}: "
            f"{printable(failure_summary(failure))}"
            for failure in failures
        ]
    return "\n".join(lines)


def _result_fields(record: JobResult, tz: tzinfo | None) -> list[tuple[str, str]]:
    finished = _iso(record.finished_at, tz)
    pairs = [("result", record.status.value + (f" at {finished}" if finished else ""))]
    if record.return_value is not None:
        pairs.append(("returned", _text(record.return_value)))
    if record.worker_ids:
        pairs.append(("ran on", printable(", ".join(record.worker_ids))))
    return pairs
