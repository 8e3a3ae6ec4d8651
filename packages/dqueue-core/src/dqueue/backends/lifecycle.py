"""What each step of a job's life means, written once for every store.

The stores differ in how they keep jobs (a heap in memory, rows in SQLite, keys in Redis), not
in what settling means. The functions here decide it over plain values: a store asks what a
step does (:func:`enqueued`, :func:`started`, :func:`settled`, :func:`lease_expired`) and
applies the :class:`Step` it gets back in its own way. The result record of a job that keeps
one is derived from the steps by :func:`next_record`. A store whose steps run inside its server
(Redis, in Lua) mirrors these functions, and the contract suite (``tests/contract``) proves that
every store agrees.

``attempt`` has one source of truth: the run counter that the store keeps beside the payload
(SQLite's ``attempt`` column, the ``runs`` hash in Redis, the lease of the memory store, whose
waiting entries are envelopes it wrote itself). Reserve counts a run there and hands out the job
with that count; every step below takes the count from the :class:`~dqueue.job.Job` it is given,
and every reader of stored data (reserve, lease recovery, dead letters, result records) takes
it from the counter, never from the ``attempt`` inside an envelope a producer wrote, which only
seeds the counter at enqueue. ``tests/contract/test_lifecycle.py`` holds every store to it.

Cancelling (:mod:`dqueue.backends.inspection`) is decided here too. A waiting job (ready or
delayed) that is cancelled is removed and finishes at once (:func:`cancelled`). A job in flight
cannot be taken from its worker: the store keeps a *cancelled mark* beside its lease (the
memory store's lease, SQLite's ``cancelled`` column, a set of marked ids in Redis) and passes
it to :func:`settled` and :func:`lease_expired`. For a marked job, a step that would store it
again (a retry, a release by a stopping worker, an expired lease with attempts left) finishes
it as CANCELLED instead, keeping the failure it carries; an ACK or a DEAD stands, since the run
ended that way. CANCELLED finishes a job as SUCCEEDED and DEAD do: its unique key is free and
its id is remembered for ``id_retention_s``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any, NamedTuple

from ..errors import DecodeError, EncodeError
from ..failures import FailureKind
from ..job import Job, JobFailure, check_json_value, decode_job, encode_job
from .base import DeadLetter, JobResult, JobStatus, Outcome, OutcomeKind

__all__ = [
    "Step",
    "cancelled",
    "dead_letter_from_decode_error",
    "decode_stored",
    "duplicates",
    "enqueued",
    "lease_expired",
    "next_record",
    "revived",
    "settled",
    "started",
    "storable",
]

#: The message of a dead-letter or retry outcome that carries no failure of its own.
_NO_FAILURE = {
    OutcomeKind.DEAD: (FailureKind.DEAD, "moved to the dead letters"),
    OutcomeKind.RETRY: (FailureKind.RETRY, "retried"),
}


class Step(NamedTuple):
    """What one step does to a job, for a store to apply (an immutable value).

    ``job`` is the job as it is after the step: for a step that stores it again (retry,
    release, an expired lease with attempts left) it is the job to store, with the ``attempt``
    count and due time the store must keep.
    """

    # A NamedTuple, not a frozen dataclass: one is built per settled job, and it builds in
    # 1.6 us against 4.0 us (timeit, 7 fields), a few percent of a SQLite drain.

    job: Job
    #: The job's status after the step, as its result record shows it.
    status: JobStatus
    #: The failure this step adds (to the record, and the dead letter when ``status`` is DEAD).
    failure: JobFailure | None = None
    return_value: Any = None
    worker_id: str | None = None
    started_at: float | None = None
    finished_at: float | None = None

    @property
    def stores_again(self) -> bool:
        """The job waits in the store again (due at ``job.due_at``)."""
        return self.status in (JobStatus.QUEUED, JobStatus.FAILED)

    @property
    def buries(self) -> bool:
        """The job goes to the dead letters with ``failure``."""
        return self.status is JobStatus.DEAD

    @property
    def finishes(self) -> bool:
        """The job is done for good: its unique key is free again and its id is remembered.

        The store keeps the id for ``id_retention_s``: enqueueing it again meanwhile stores nothing.
        """
        return self.status in (JobStatus.SUCCEEDED, JobStatus.DEAD, JobStatus.CANCELLED)


def enqueued(job: Job) -> Step:
    """A job was stored, waiting for its first (or next) run."""
    return Step(job=job, status=JobStatus.QUEUED)


def started(job: Job, worker_id: str, now: float) -> Step:
    """Reserve handed ``job`` (its attempt already counted) to ``worker_id``."""
    return Step(job=job, status=JobStatus.RUNNING, worker_id=worker_id, started_at=now)


def cancelled(job: Job, now: float) -> Step:
    """A waiting job was cancelled: it is removed from the store and never runs."""
    return Step(job=job, status=JobStatus.CANCELLED, finished_at=now)


def _unless_cancelled(step: Step, cancelled: bool, now: float) -> Step:
    """``step``, or a CANCELLED finish when a job cancelled in flight would be stored again."""
    if not cancelled or not step.stores_again:
        return step
    finished_at = step.finished_at if step.finished_at is not None else now
    return step._replace(status=JobStatus.CANCELLED, finished_at=finished_at)


def settled(outcome: Outcome, now: float, *, cancelled: bool = False) -> Step:
    """What settling ``outcome`` does (the store checked that the worker held the lease).

    ``cancelled``: the job was cancelled while in flight (see the module docstring).
    """
    return _unless_cancelled(_settled(outcome, now), cancelled, now)


def _settled(outcome: Outcome, now: float) -> Step:
    job, kind = outcome.job, outcome.kind
    finished_at = outcome.finished_at if outcome.finished_at is not None else now
    if kind is OutcomeKind.ACK:
        return Step(
            job=job,
            status=JobStatus.SUCCEEDED,
            return_value=outcome.result,
            finished_at=finished_at,
        )
    if kind is OutcomeKind.RELEASE:
        # It never started: as it was before reserve, the run not counted.
        return Step(job=job.with_changes(attempt=max(job.attempt - 1, 0)), status=JobStatus.QUEUED)
    failure = outcome.failure
    if failure is None:
        failure_kind, message = _NO_FAILURE[kind]
        failure = JobFailure.from_reason(failure_kind, message, at=now, attempt=job.attempt)
    if kind is OutcomeKind.RETRY:
        again = job.with_changes(run_after=outcome.run_after)
        return Step(job=again, status=JobStatus.FAILED, failure=failure, finished_at=finished_at)
    return Step(job=job, status=JobStatus.DEAD, failure=failure, finished_at=now)


def storable(outcome: Outcome, now: float) -> Outcome:
    """``outcome``, or a DEAD outcome saying why, when a store could not write what it carries.

    A kept return value that is not JSON, or text that is not UTF-8 (a lone surrogate) in the
    return value, the failure or the job, would make the store's write fail, and with it every
    other outcome of the same settle, again at each retry. Such an outcome is settled alone as
    a dead letter (without the job's arguments when they are what can't be written). An ACK
    that keeps no result, the common case, is returned at once.
    """
    kind, job = outcome.kind, outcome.job
    if kind is OutcomeKind.RELEASE or (kind is OutcomeKind.ACK and job.result_ttl is None):
        return outcome
    problem = _failure_problem(outcome.failure) if outcome.failure is not None else ""
    if not problem and kind is OutcomeKind.ACK:
        problem = _result_problem(outcome.result)
    if not problem and kind is not OutcomeKind.ACK:
        problem = _job_problem(job)
    if not problem:
        return outcome
    if _job_problem(job):
        job = job.with_changes(args=(), kwargs={}, meta={})
    message = f"the outcome of this run could not be stored: {problem}"
    failure = JobFailure.from_reason(FailureKind.UNSTORABLE, message, at=now, attempt=job.attempt)
    return Outcome(
        job=job,
        kind=OutcomeKind.DEAD,
        failure=failure,
        started_at=outcome.started_at,
        finished_at=outcome.finished_at,
    )


def _is_utf8(text: str) -> bool:
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _failure_problem(failure: JobFailure) -> str:
    for name in ("exception_type", "message", "traceback"):
        if not _is_utf8(getattr(failure, name)):
            return f"the failure's {name} is not UTF-8 text"
    return ""


def _result_problem(result: Any) -> str:
    try:
        check_json_value(result, where="the return value")
    except EncodeError as exc:
        return str(exc)
    text = json.dumps(result, ensure_ascii=False)
    return "" if _is_utf8(text) else "the return value is not UTF-8 text"


def _job_problem(job: Job) -> str:
    try:
        text = encode_job(job)
    except EncodeError as exc:
        return str(exc)
    return "" if _is_utf8(text) else "the job's arguments are not UTF-8 text"


def lease_expired(job: Job, worker_id: str, now: float, *, cancelled: bool = False) -> Step:
    """The lease of ``job`` (``attempt`` = the runs counted) ran out: run again or bury.

    The run counts: a job that keeps killing its workers ends in the dead letters after
    ``max_attempts``. One with attempts left is due at once, unless it was ``cancelled`` in
    flight: it finishes as CANCELLED then.
    """
    failure = JobFailure.from_reason(
        FailureKind.LEASE_EXPIRED,
        f"worker {worker_id} stopped renewing its lease (crashed or stuck)",
        at=now,
        attempt=job.attempt,
    )
    if job.attempt >= job.max_attempts:
        return Step(job=job, status=JobStatus.DEAD, failure=failure, finished_at=now)
    again = Step(job=job.with_changes(run_after=None), status=JobStatus.FAILED, failure=failure)
    return _unless_cancelled(again, cancelled, now)


def revived(dead: Job, now: float) -> Job:
    """A dead letter put back on its queue at ``now``: due then, with all its attempts again.

    Due at ``now``, not at its old due time: the time it spent dead is not lateness.
    """
    return dead.with_changes(attempt=0, run_after=now)


def dead_letter_from_decode_error(queue: str, payload: str, reason: str, now: float) -> DeadLetter:
    """A dead letter for a payload that is not a job envelope; it keeps the raw text."""
    digest = hashlib.blake2b(payload.encode(errors="replace"), digest_size=16).hexdigest()
    stand_in = Job(id=f"corrupt-{digest}", task="<undecodable>", queue=queue, enqueued_at=now)
    failure = JobFailure.from_reason(FailureKind.UNDECODABLE, reason, at=now, attempt=0)
    return DeadLetter(job=stand_in, failure=failure, died_at=now, raw=payload)


def decode_stored(
    payload: bytes | str, *, job_id: str, queue: str, attempt: int | None = None
) -> Job:
    """Decode a payload that a store keeps under ``job_id`` in ``queue``.

    An envelope that names another id or queue than where it is stored is refused too: the
    store would lease, settle or count one job while the worker runs another. ``attempt``: the
    runs the store counts, when it keeps them apart from the envelope (see :func:`decode_job`).

    Raises:
        DecodeError: the payload is not a job envelope, or not the one stored there.
    """
    job = decode_job(payload, attempt=attempt)
    if job.id != job_id:
        raise DecodeError("job payload's id differs from the id it is stored under", payload)
    if job.queue != queue:
        raise DecodeError("job payload's queue differs from the queue it is stored in", payload)
    return job


def duplicates(waiting: Iterable[tuple[str, bytes | str]]) -> list[str]:
    """The ids of waiting jobs identical (task, queue, args, kwargs) to one listed before them.

    ``waiting`` is ``(id, payload)`` pairs, the job to keep first. A payload that does not
    decode is left alone, for a worker to dead-letter with its reason.
    """
    seen: set[str] = set()
    twins: list[str] = []
    for job_id, payload in waiting:
        try:
            job = decode_job(payload)
        except DecodeError:
            continue
        identity = json.dumps(
            [job.task, job.queue, list(job.args), job.kwargs], sort_keys=True, separators=(",", ":")
        )
        if identity in seen:
            twins.append(job_id)
        else:
            seen.add(identity)
    return twins


def next_record(previous: JobResult | None, step: Step) -> JobResult:
    """The result record of ``step.job`` after ``step``, building on the ``previous`` one.

    Failures and worker ids accumulate; the start time stays until a new run starts; the
    return value and finish time are those of the last step; the progress a run reported stays.
    """
    job = step.job
    worker_ids = previous.worker_ids if previous is not None else ()
    if step.worker_id and step.worker_id not in worker_ids:
        worker_ids = (*worker_ids, step.worker_id)
    failures = previous.failures if previous is not None else ()
    if step.failure is not None:
        failures = (*failures, step.failure)
    started_at = step.started_at
    if started_at is None and previous is not None:
        started_at = previous.started_at
    return JobResult(
        job_id=job.id,
        status=step.status,
        task=job.task,
        queue=job.queue,
        return_value=step.return_value,
        failures=failures,
        enqueued_at=job.enqueued_at,
        started_at=started_at,
        finished_at=step.finished_at,
        attempt=job.attempt,
        worker_ids=worker_ids,
        args=job.args,
        kwargs=job.kwargs,
        progress=previous.progress if previous is not None else None,
    )
