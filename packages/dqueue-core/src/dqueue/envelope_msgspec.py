"""Reading job envelopes with msgspec, when it is installed (``pip install dqueue-core[msgspec]``).

A worker decodes every job it runs. :func:`dqueue.job.decode_job` reads an envelope with
:mod:`json` and checks its fields in Python, 10 µs a job; msgspec parses the JSON and checks
the types and ranges of a common envelope in C, and the whole read takes 3 µs (bench/README.md,
"Reading envelopes with msgspec"). It is a shortcut and nothing more: a payload it refuses or
cannot vouch for goes the stdlib way, which accepts it or refuses it with the message it always
gave. So the two ways never disagree on a job: ``test_envelope_msgspec.py`` (the core's tests)
reads generated and hostile payloads both ways and compares.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from .json_values import MAX_PAYLOAD_BYTES, is_task_name, may_nest_too_deep

__all__ = ["EnvelopeReader", "msgspec_reader"]

_T = TypeVar("_T")

#: ``reader(payload, attempt)``: what ``build`` made of a job's fields, or ``None`` when the
#: payload must be read the stdlib way (it is bad, or of a kind only that way checks).
EnvelopeReader = Callable[[bytes | str, int | None], _T | None]


def msgspec_reader(
    *,
    version: int,
    max_count: int,
    priorities: tuple[int, int],
    default_queue: str,
    build: Callable[..., _T],
) -> EnvelopeReader[_T] | None:
    """A reader of envelopes of ``version`` at most, or ``None`` if msgspec is not installed.

    ``max_count`` bounds ``attempt`` and ``max_attempts``, ``priorities`` is the lowest and
    highest priority, and ``default_queue`` fills a missing ``queue``: the job module's rules,
    passed in so that they are stated once, there. ``build`` is called with the values of a
    job's fields in their order (``args`` a tuple), and the reader returns what it made.
    """
    try:
        import msgspec
    except ImportError:
        return None

    meta = msgspec.Meta
    name = Annotated[str, meta(min_length=1)]
    when = float | None  # msgspec takes an int for a float, and refuses NaN, Infinity, bools
    envelope = msgspec.defstruct(
        "Envelope",
        [
            ("v", Annotated[int, meta(ge=1, le=version)]),
            ("id", name),
            ("task", name),
            ("queue", name, default_queue),
            ("args", tuple[Any, ...], ()),
            ("kwargs", dict[str, Any], {}),
            ("enqueued_at", when, None),
            ("run_after", when, None),
            ("attempt", Annotated[int, meta(ge=0, le=max_count)], 0),
            ("max_attempts", Annotated[int, meta(ge=1, le=max_count)], 1),
            ("timeout", when, None),
            ("sigkill_on_stop", bool, False),
            ("unique_key", str | None, None),
            ("unique_for", when, None),
            ("priority", Annotated[int, meta(ge=priorities[0], le=priorities[1])], 0),
            ("result_ttl", when, None),
            ("meta", dict[str, Any] | None, None),
        ],
        # msgspec skips the value of a key it does not know without checking it as json does
        # (invalid UTF-8, 1e999): a field from a newer version goes the stdlib way.
        forbid_unknown_fields=True,
        gc=False,  # the envelope is dropped at once, and holds no cycle
    )
    # A struct made at run time: its fields are known to msgspec, not to the type checker.
    decode: Callable[[bytes | str], Any] = msgspec.json.Decoder(envelope).decode

    def read(payload: bytes | str, attempt: int | None) -> _T | None:
        # What the stdlib way alone checks: the exact size of a long text in UTF-8, and how
        # deep a payload with many brackets nests.
        if len(payload) * 4 > MAX_PAYLOAD_BYTES or may_nest_too_deep(payload):
            return None
        try:
            job = decode(payload)
        except ValueError:  # msgspec's refusals, and a str with a lone surrogate it cannot encode
            return None
        if not is_task_name(job.task):
            return None
        return build(  # in the order of Job's fields, as decode_job builds them
            job.id,
            job.task,
            job.queue,
            job.args,
            job.kwargs,
            job.enqueued_at or 0.0,
            job.run_after,
            job.attempt if attempt is None else attempt,
            job.max_attempts,
            job.timeout,
            job.sigkill_on_stop,
            job.unique_key,
            job.unique_for,
            job.priority,
            job.result_ttl,
            job.meta or {},
        )

    return read
