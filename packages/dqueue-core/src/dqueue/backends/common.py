"""Small pieces that several backends share."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import TYPE_CHECKING

from ..errors import DecodeError
from ..failures import FailureKind
from ..job import Job, JobFailure, decode_job

if TYPE_CHECKING:
    from .base import DeadLetter

__all__ = ["dead_letter_from_decode_error", "decode_stored", "duplicates", "percentile"]


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


def decode_stored(payload: bytes | str, *, job_id: str, queue: str) -> Job:
    """Decode a payload that a store keeps under ``job_id`` in ``queue``.

    An envelope that names another id or queue than where it is stored is refused too: the
    store would lease, settle or count one job while the worker runs another.

    Raises:
        DecodeError: the payload is not a job envelope, or not the one stored there.
    """
    job = decode_job(payload)
    if job.id != job_id:
        raise DecodeError("job payload's id differs from the id it is stored under", payload)
    if job.queue != queue:
        raise DecodeError("job payload's queue differs from the queue it is stored in", payload)
    return job


def dead_letter_from_decode_error(queue: str, payload: str, reason: str, now: float) -> DeadLetter:
    """A dead letter for a payload that is not a job envelope; it keeps the raw text."""
    from .base import DeadLetter

    digest = hashlib.blake2b(payload.encode(errors="replace"), digest_size=16).hexdigest()
    stand_in = Job(id=f"corrupt-{digest}", task="<undecodable>", queue=queue, enqueued_at=now)
    failure = JobFailure.from_reason(FailureKind.UNDECODABLE, reason, at=now, attempt=0)
    return DeadLetter(job=stand_in, failure=failure, died_at=now, raw=payload)


def percentile(samples: list[float] | tuple[float, ...], fraction: float) -> float | None:
    """The ``fraction`` percentile (0..1) of ``samples`` by nearest rank; ``None`` if empty."""
    if not samples:
        return None
    ordered = sorted(samples)
    rank = min(max(round(fraction * (len(ordered) - 1)), 0), len(ordered) - 1)
    return ordered[rank]
