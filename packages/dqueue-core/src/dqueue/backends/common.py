"""Small pieces that several backends share."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

from ..failures import FailureKind
from ..job import Job, JobFailure

if TYPE_CHECKING:
    from .base import DeadLetter

__all__ = ["dead_letter_from_decode_error", "dedup_identity", "percentile"]


def dedup_identity(job: Job) -> str:
    """What makes two waiting jobs duplicates: the same task, queue, args and kwargs."""
    canonical = json.dumps(
        [job.task, job.queue, list(job.args), job.kwargs], sort_keys=True, separators=(",", ":")
    )
    return hashlib.blake2b(canonical.encode(), digest_size=16).hexdigest()


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
