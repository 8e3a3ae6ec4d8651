"""JSON values as jobs carry them: what survives a round trip, and the limits of an envelope.

Encoding and decoding share these checks so that whatever is enqueued can be decoded: the
limits below are refused at enqueue (:class:`~dqueue.errors.EncodeError`) and at decode
(:class:`~dqueue.errors.DecodeError`).
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from typing import Any, Final

from .errors import EncodeError

__all__ = [
    "MAX_NESTING",
    "MAX_PAYLOAD_BYTES",
    "MAX_PROGRESS_BYTES",
    "STRICT_DECODER",
    "check_json_arguments",
    "check_json_value",
    "decode_progress",
    "decode_strict",
    "encode_progress",
    "is_task_name",
    "may_nest_too_deep",
    "nests_deeper_than",
    "non_finite_fields",
    "size_in_bytes",
]

#: The largest envelope, in UTF-8 bytes, that is enqueued or decoded.
MAX_PAYLOAD_BYTES: Final = 1024 * 1024
#: The largest progress a running task reports (``dqueue.set_progress``), in UTF-8 bytes of
#: JSON: a reader shows it on every page of in-flight jobs, so it stays a small status.
MAX_PROGRESS_BYTES: Final = 4096
#: How deep containers may nest in one argument (or meta value): ``[[1]]`` is 2 levels.
MAX_NESTING: Final = 100


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):  # 1e999 reads as Infinity, which no encoder writes back
        raise ValueError("a number is out of range")
    return value


# One decoder for every job, as strict as the encoder: json.loads accepts NaN and Infinity.
STRICT_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant, parse_float=_finite_float)
# The C scanner that decode() wraps (an attribute typeshed does not list).
_SCAN_VALUE: Final[Callable[[str, int], tuple[Any, int]]] = STRICT_DECODER.scan_once  # type: ignore[attr-defined]


def decode_strict(text: str) -> Any:
    """The JSON value of ``text``, as ``STRICT_DECODER.decode`` reads it (and refuses it).

    A text that is one value with no space around it, as every envelope written here is, goes
    straight to the scanner: two Python calls and a regular expression fewer a job. Anything
    else goes through ``decode``, which raises what it always raised.
    """
    try:
        value, end = _SCAN_VALUE(text, 0)
    except StopIteration:  # a space first, or no value: decode() says which
        return STRICT_DECODER.decode(text)
    if end != len(text):  # a space or extra data after it
        return STRICT_DECODER.decode(text)
    return value


def size_in_bytes(text: bytes | str) -> int:
    """The size of ``text`` in UTF-8 bytes."""
    # UTF-8 takes at most 4 bytes a character: only a long text needs encoding to be measured.
    if isinstance(text, bytes | bytearray) or len(text) * 4 <= MAX_PAYLOAD_BYTES:
        return len(text)
    return len(text.encode("utf-8", "surrogatepass"))


def may_nest_too_deep(text: bytes | str) -> bool:
    """False when ``text`` has too few brackets to nest past the limit: the common case.

    Counting brackets runs in C over a short text, while walking the values runs in Python on
    every job; only a payload with many brackets (inside strings too) is walked.
    """
    if len(text) < _SHORTEST_TOO_DEEP:
        return False
    if isinstance(text, str):
        return text.count("[") + text.count("{") > MAX_NESTING
    return text.count(b"[") + text.count(b"{") > MAX_NESTING


#: Valid JSON nested past :data:`MAX_NESTING` opens and closes that many brackets and one more:
#: a shorter text cannot be, and is not even counted (most envelopes are shorter).
_SHORTEST_TOO_DEEP: Final = 2 * (MAX_NESTING + 1)


def nests_deeper_than(value: Any, limit: int) -> bool:
    """True if containers nest more than ``limit`` levels in ``value`` (``[[1]]`` is 2)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:  # a loop, not recursion: the value may be nested past the recursion limit
        item, depth = stack.pop()
        kind = type(item)
        if kind is list or kind is tuple or kind is dict:
            if depth > limit:
                return True
            children = item.values() if kind is dict else item
            stack.extend((child, depth + 1) for child in children)
    return False


def _is_plain_json(value: Any, depth: int = 0) -> bool:
    """True for values of JSON's own types within :data:`MAX_NESTING` (``depth``: levels above).

    Such values round-trip by construction. Exact types on purpose: a subclass (an IntEnum) comes
    back as its base type, so it takes the slow path, which explains what is wrong with it.
    """
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:
        return True
    if kind is float:
        return math.isfinite(value)
    if kind is list:
        return depth < MAX_NESTING and all(_is_plain_json(item, depth + 1) for item in value)
    if kind is dict:
        return depth < MAX_NESTING and all(
            type(key) is str and _is_plain_json(item, depth + 1) for key, item in value.items()
        )
    return False


def check_json_value(value: Any, *, where: str) -> None:
    """Raise :class:`EncodeError` unless ``value`` survives a JSON round trip, nested in limits.

    A tuple is refused: it would come back as a list, and the task would receive a value unlike
    the one it was given. Nesting is limited to :data:`MAX_NESTING`.
    """
    if _is_plain_json(value):
        return
    if nests_deeper_than(value, MAX_NESTING):
        raise EncodeError(f"{where} is nested more than {MAX_NESTING} levels deep")
    try:
        text = json.dumps(value, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise EncodeError(f"{where} is not JSON-serialisable: {exc}") from exc
    if not _same_after_round_trip(value, json.loads(text)):
        if _holds_tuple(value):
            raise EncodeError(f"{where} holds a tuple, which JSON turns into a list: use a list")
        raise EncodeError(
            f"{where} does not survive a JSON round trip "
            "(dictionary keys must be strings; use plain str, int, float, bool, None, list, dict)"
        )


def encode_progress(progress: Any) -> str:
    """``progress`` as the JSON text a store keeps (see :data:`MAX_PROGRESS_BYTES`).

    Raises:
        EncodeError: it is not a JSON value that survives a round trip, or it is too big. The
            message names the progress, never quotes it.
    """
    check_json_value(progress, where="the progress")
    text = json.dumps(progress, separators=(",", ":"), ensure_ascii=False)
    size = size_in_bytes(text)
    if size > MAX_PROGRESS_BYTES:
        raise EncodeError(
            f"the progress is {size:,} bytes of JSON, more than the {MAX_PROGRESS_BYTES:,} kept: "
            "report a small status (a fraction, counts, a short message)"
        )
    return text


def decode_progress(text: str | bytes | None) -> Any:
    """The progress a store kept as ``text`` (``None``: none reported, or unreadable)."""
    if not text:
        return None
    try:
        return STRICT_DECODER.decode(text if isinstance(text, str) else text.decode("utf-8"))
    except ValueError:  # UnicodeDecodeError included: a damaged value reads as none
        return None


def check_json_arguments(
    args: tuple[Any, ...], kwargs: Mapping[str, Any], *, task: str, meta: Mapping[str, Any] = {}
) -> None:
    """Check each argument (and ``meta`` value) of ``task``; the error names the first bad one.

    Each value may nest :data:`MAX_NESTING` levels; its list or object is not counted.
    """
    # ``args`` is the call's own tuple, not an argument: its items are what must be plain.
    plain_args = all(_is_plain_json(item) for item in args)
    if plain_args and _is_plain_json(kwargs, -1) and _is_plain_json(meta, -1):
        return
    for index, value in enumerate(args):
        check_json_value(value, where=f"argument {index} of {task}")
    for what, mapping in (("argument", kwargs), ("meta", meta)):
        for name, value in mapping.items():
            check_json_value(value, where=f"{what} {name!r} of {task}")
        if any(type(name) is not str for name in mapping):
            raise EncodeError(f"{what} names of {task} must be strings")


def _same_after_round_trip(before: Any, after: Any) -> bool:
    if isinstance(before, tuple):
        return False  # it comes back as a list
    if isinstance(before, list):
        return (
            isinstance(after, list)
            and len(before) == len(after)
            and all(_same_after_round_trip(a, b) for a, b in zip(before, after, strict=True))
        )
    if isinstance(before, dict):
        return (
            isinstance(after, dict)
            and all(isinstance(key, str) for key in before)
            and before.keys() == after.keys()
            and all(_same_after_round_trip(before[key], after[key]) for key in before)
        )
    if isinstance(before, bool) or before is None:
        return before is after
    return type(before) is type(after) and bool(before == after)


def _holds_tuple(value: Any) -> bool:
    stack = [value]
    while stack:  # a loop: the value may nest past the recursion limit
        item = stack.pop()
        if isinstance(item, tuple):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


# A dotted name whose parts are identifiers, with two allowances met in real names: hyphens
# (a module named from a path, as pytest's rootdir imports do) and "<word>" parts (Python's
# "<locals>", the stores' "<undecodable>"). Whitespace, control characters, slashes, quotes
# and empty parts are refused.
_TASK_NAME_PART: Final = r"(?:[^\W\d][\w-]*|<\w+>)"
_TASK_NAME: Final = re.compile(rf"{_TASK_NAME_PART}(?:\.{_TASK_NAME_PART})*")


def is_task_name(name: str) -> bool:
    """Whether ``name`` may be a job's task name (see ``_TASK_NAME_PART``)."""
    if name in _TASK_NAMES_SEEN:  # a worker sees few names, each on many jobs
        return True
    if _TASK_NAME.fullmatch(name) is None:
        return False
    # Payloads may carry any number of names: only so many are kept, and only short ones.
    if len(_TASK_NAMES_SEEN) < 1024 and len(name) <= 200:
        _TASK_NAMES_SEEN.add(name)
    return True


_TASK_NAMES_SEEN: Final[set[str]] = set()


def non_finite_fields(text: str, names: tuple[str, ...]) -> str:
    """`` in attempt, priority``: which of the top-level ``names`` hold NaN or Infinity, or ``""``.

    For the message of a payload the strict decoder refused: it names fields, never values.
    Only called once decoding failed, so the lenient second read costs the hot path nothing.
    """
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return ""
    if not isinstance(data, dict):
        return ""
    named = [name for name in names if name in data and _holds_non_finite(data[name])]
    return f" in {', '.join(named)}" if named else ""


def _holds_non_finite(value: Any) -> bool:
    stack = [value]
    while stack:  # a loop: the value may nest past the recursion limit
        item = stack.pop()
        if type(item) is float and not math.isfinite(item):
            return True
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False
