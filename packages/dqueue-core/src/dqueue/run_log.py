"""The log line of each finished run: what ran, how long, how late, and what happens next.

A success is one INFO line; a failure one WARNING line that says what comes next (a retry and
when, or the dead letters) with the traceback trimmed to the task's own frames. A task that
raised :class:`~dqueue.errors.Retry` asked for its retry: that is an INFO line, not a failure.
The full traceback is a DEBUG record, and a dead letter keeps it. Lines go to the logger
``dqueue.jobs``, so that they can be silenced or routed apart from the workers' own lines.

Each record carries the facts as attributes too (``task``, ``job_id``, ``queue``,
``outcome``, ``attempt``, ``max_attempts``, ``duration_s``, ``lateness_s``, ``retry_in_s``,
``exception``): the JSON log format (``DQUEUE_LOG_FORMAT=json``) writes them as keys.
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, Final

from .backends.base import Outcome, OutcomeKind
from .errors import Retry, TaskNotRegistered
from .execution import call_wrapper_modules
from .logs import printable

__all__ = ["log_outcome", "user_frames"]

_logger = logging.getLogger("dqueue.jobs")

# Frames of the core's modules are dropped from a failure's log, and those of the call wrappers
# that plugins add. Not a prefix such as "dqueue_": the core names no plugin, and that would
# drop a user's own module of such a name.
_OWN_MODULE: Final = "dqueue"
_OWN_PREFIX: Final = "dqueue."


def log_outcome(outcome: Outcome, exception: BaseException | None) -> None:
    """Log the run that ended in ``outcome`` (a RELEASE never ran: nothing is logged).

    ``exception`` is what the task raised, ``None`` after a success.
    """
    if outcome.kind is OutcomeKind.RELEASE:
        return
    if exception is None and not _logger.isEnabledFor(logging.INFO):
        return  # a success's line would not be written: every job would pay for building it
    job = outcome.job
    duration = (outcome.finished_at or 0.0) - (outcome.started_at or 0.0)
    fields: dict[str, Any] = {
        "task": printable(job.task),
        "job_id": printable(job.id),
        "queue": printable(job.queue),
        "outcome": outcome.kind.value,
        "attempt": job.attempt,
        "max_attempts": job.max_attempts,
        "duration_s": round(duration, 6),
        "lateness_s": None if outcome.lateness_s is None else round(outcome.lateness_s, 6),
    }
    ran = f"{job.describe()} on {fields['queue']}"
    late = "" if outcome.lateness_s is None else f", started {_seconds(outcome.lateness_s)} late"
    if exception is None:
        _logger.info("%s: done in %s%s", ran, _seconds(duration), late, extra=fields)
        return
    fields["exception"] = _type_name(exception)
    if outcome.kind is OutcomeKind.RETRY:
        retry_in = max((outcome.run_after or 0.0) - (outcome.finished_at or 0.0), 0.0)
        fields["retry_in_s"] = round(retry_in, 6)
        then = f"retrying in {_seconds(retry_in)}, attempt {job.attempt + 1} of {job.max_attempts}"
        if isinstance(exception, Retry):
            why = f" ({printable(str(exception))})" if exception.args else ""
            _logger.info("%s: %s as the task asked%s", ran, then, why, extra=fields)
            return
        full = "the full traceback is logged at DEBUG level"
    else:
        attempts = f"{job.attempt} attempt{'s' if job.attempt != 1 else ''}"
        then = f"dead-lettered after {attempts}{_not_retried(outcome, exception)}"
        full = "the dead letter keeps the full traceback"
    summary = printable(outcome.failure.summary()) if outcome.failure else fields["exception"]
    failed = f"failed in {_seconds(duration)}{late}: {summary}"
    trimmed = (type(exception), exception, user_frames(exception.__traceback__))
    _logger.warning("%s: %s; %s (%s)", ran, failed, then, full, exc_info=trimmed, extra=fields)
    if _logger.isEnabledFor(logging.DEBUG):
        _logger.debug("%s: full traceback", ran, exc_info=exception, extra=fields)


def user_frames(tb: TracebackType | None) -> TracebackType | None:
    """``tb`` without the frames of dqueue's modules: the core's and its call wrappers'.

    What is left is the task's own code and what it called; ``None`` when no frame is left
    (a failure inside dqueue itself, such as a task that is not registered).
    """
    kept: list[TracebackType] = []
    wrappers = call_wrapper_modules()
    while tb is not None:
        module = str(tb.tb_frame.f_globals.get("__name__", ""))
        if not (module == _OWN_MODULE or module.startswith(_OWN_PREFIX) or module in wrappers):
            kept.append(tb)
        tb = tb.tb_next
    trimmed: TracebackType | None = None
    for frame in reversed(kept):
        trimmed = TracebackType(trimmed, frame.tb_frame, frame.tb_lasti, frame.tb_lineno)
    return trimmed


def _not_retried(outcome: Outcome, exception: BaseException) -> str:
    """Why a run with attempts left went to the dead letters (``""`` when none were left)."""
    job = outcome.job
    if job.attempt >= job.max_attempts:
        return ""
    if isinstance(exception, TaskNotRegistered):
        return " (the task is not registered in this worker)"
    return f" ({_type_name(exception)} is not in the task's retry_on)"


def _type_name(exception: BaseException) -> str:
    kind = type(exception)
    return f"{kind.__module__}.{kind.__qualname__}"


def _seconds(seconds: float) -> str:
    """``12.5 ms``, ``8 s``, ``2.5 s``, ``3600 s``: short, and exact enough for a log."""
    if seconds < 1:
        return f"{seconds * 1000:.1f} ms"
    return f"{seconds:.1f} s".replace(".0 s", " s")
