"""The msgspec reading of an envelope agrees with the standard library's on every payload.

``decode_job`` reads with msgspec when it is installed and falls back to :mod:`json` for what
msgspec refuses or cannot vouch for. Generated envelopes, good and hostile, are read both ways:
whatever msgspec returns, the stdlib way returns too, value for value and type for type, and
whatever the stdlib way refuses, msgspec hands over to it. Skipped where msgspec is absent
(``hatch run core:test``), where every envelope goes the stdlib way.
"""

from __future__ import annotations

import json
from dataclasses import fields
from typing import Any
from unittest import mock

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from dqueue import job as job_module
from dqueue.envelope_msgspec import msgspec_reader
from dqueue.errors import DecodeError
from dqueue.job import MAX_ATTEMPTS, MAX_NESTING, Job, decode_job, encode_job

pytest.importorskip("msgspec")


def values_in_order(*values: Any) -> tuple[Any, ...]:
    return values


READER = msgspec_reader(
    version=1,
    max_count=MAX_ATTEMPTS,
    priorities=(-100, 100),
    default_queue="default",
    build=values_in_order,
)

FIELD_NAMES = [item.name for item in fields(Job)]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 10**308, 10**400, -0.0, 1.0, 2.0, 0.5]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    st.sampled_from(["", "app.tasks.send", "a..b", "1x.y", "app.x\n", "é", "\ud800", "\x00"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner),
    max_leaves=8,
)
#: Each field's good values, then odd ones beside the other scalars.
FIELDS: dict[str, tuple[st.SearchStrategy[Any], st.SearchStrategy[Any]]] = {
    "v": (st.just(1), st.sampled_from([0, 2, True, 1.0, "1"])),
    "id": (st.text(min_size=1, max_size=4), st.just("")),
    "task": (
        st.sampled_from(["app.tasks.send", "noop", "a.<locals>.b", "x" * 201]),
        st.sampled_from(["a..b", "1x.y", "app.x\n", ""]),
    ),
    "queue": (st.sampled_from(["default", "mail"]), st.just("")),
    "args": (st.lists(values, max_size=3), values),
    "kwargs": (st.dictionaries(st.text(max_size=3), values, max_size=3), values),
    "enqueued_at": (st.floats(min_value=0, max_value=2e9) | st.integers(0, 2**53), scalars),
    "run_after": (st.none() | st.floats(min_value=0, max_value=2e9), scalars),
    "attempt": (st.integers(min_value=0, max_value=3), st.sampled_from([-1, 2**31, 2.0])),
    "max_attempts": (st.integers(min_value=1, max_value=3), st.sampled_from([0, 2**31, 3.0])),
    "timeout": (st.none() | st.floats(min_value=0, max_value=100), scalars),
    "sigkill_on_stop": (st.booleans(), scalars),
    "unique_key": (st.none() | st.text(max_size=3), scalars),
    "unique_for": (st.none() | st.integers(min_value=0, max_value=100), scalars),
    "priority": (st.integers(min_value=-100, max_value=100), st.sampled_from([-101, 101, 5.0])),
    "result_ttl": (st.none() | st.floats(min_value=0, max_value=100), scalars),
    "meta": (st.dictionaries(st.text(max_size=3), values, max_size=2), values),
}


#: Raw JSON that json.dumps never writes, added after the other fields (so a known key's
#: value here is the one read): numbers past a float or json's digit limit, invalid UTF-8.
RAW = [
    '"x":1e999',
    '"args":[1e999]',
    '"meta":{"a":-1e999}',
    '"kwargs":{"a":1e-999}',
    '"x":"\\ud800"',
    '"args":["\\ud83d\\ude00"]',
    '"x":' + "9" * 4301,
    '"args":[' + "9" * 4301 + "]",
    '"timeout":' + "9" * 400,
    '"x":"\udcff"',  # a lone surrogate in a str, invalid UTF-8 in bytes
    '"\udcff":1',
    '"priority":5,"task":"app.first"',
]

#: How the JSON text is changed: mostly not at all.
EDITS = ["none"] * 4 + ["spaces", "trailing", "raw", "raw", "array", "deep"]


@st.composite
def payloads(draw: st.DrawFn) -> bytes | str:
    """An envelope as text or bytes: a field or two odd or left out, some raw text edits."""
    odd = draw(st.sets(st.sampled_from(list(FIELDS)), max_size=2))
    data: dict[str, Any] = {}
    for name, (good, odd_values) in FIELDS.items():
        if name in odd:
            kind = draw(st.sampled_from(["odd", "odd", "scalar", "left out"]))
            if kind != "left out":
                data[name] = draw(odd_values if kind == "odd" else scalars)
        elif name in ("v", "id", "task") or draw(st.integers(0, 4)):  # now and then left out
            data[name] = draw(good)
    data.update(draw(st.dictionaries(st.sampled_from(["extra", "x", "_v"]), values, max_size=1)))
    text = json.dumps(data, ensure_ascii=draw(st.booleans()), separators=(",", ":"))
    edit = draw(st.sampled_from(EDITS))
    if edit == "spaces":
        text = f" {text}\n"
    elif edit == "trailing":
        text += draw(st.sampled_from(["x", "{}", ",", " 1"]))
    elif edit == "raw":
        text = text[:-1] + ("," if len(text) > 2 else "") + draw(st.sampled_from(RAW)) + "}"
    elif edit == "array":
        text = f"[{text}]"
    elif edit == "deep":
        depth = draw(st.integers(MAX_NESTING - 2, MAX_NESTING + 2))
        key = draw(st.sampled_from(["args", "kwargs", "meta", "x"]))
        wrapped = "[" * depth + "]" * depth
        inner = f"[{wrapped}]" if key == "args" else f'{{"k":{wrapped}}}'
        text = text[:-1] + ("," if len(text) > 2 else "") + f'"{key}":{inner}}}'
    as_bytes = draw(st.sampled_from(["str", "utf-8", "utf-8", "broken"]))
    if as_bytes == "str":
        return text
    raw = text.encode("utf-8", "surrogatepass")  # a lone surrogate: invalid UTF-8
    return raw.replace(b'"', b'"\xff', 1) if as_bytes == "broken" else raw


def typed(value: Any) -> Any:
    """``value`` with the type of every part beside it: ``1 == 1.0``, but not as a job's field."""
    if isinstance(value, dict):
        return ("dict", [(key, typed(item)) for key, item in value.items()])
    if isinstance(value, list | tuple):
        return (type(value).__name__, [typed(item) for item in value])
    return (type(value).__name__, repr(value))


def read_with_msgspec(payload: bytes | str, attempt: int | None = None) -> tuple[Any, ...] | None:
    assert READER is not None  # msgspec is installed (importorskip above)
    return READER(payload, attempt)


def read_with_json(payload: bytes | str, attempt: int | None = None) -> Job:
    with mock.patch.object(job_module, "_read_with_msgspec", None):
        return decode_job(payload, attempt=attempt)


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payloads(), st.sampled_from([None, 0, 7]))
@example('{"v":1,"id":"a","task":"app.t","args":["\\ud800"]}', None)
@example('{"v":1,"id":"a","task":"app.t","enqueued_at":-0.0,"meta":false}', None)
@example('{"v":1,"id":"a","task":"app.t","timeout":1e999}', None)
@example('{"v":1,"id":"a","task":"app.t","attempt":2.0}', 3)
@example('{"v":1,"id":"a","task":"app.t","args":[%s]}' % ("[" * 101 + "]" * 101), None)
@example('{"v":1,"id":"a","task":"app.t","meta":{"k":%s}}' % ("[" * 100 + "]" * 100), None)
def test_msgspec_reads_a_payload_as_json_does_or_leaves_it_to_json(
    payload: bytes | str, attempt: int | None
) -> None:
    values = read_with_msgspec(payload, attempt)
    try:
        expected = read_with_json(payload, attempt)
    except DecodeError:
        assert values is None, "msgspec accepted what the stdlib way refuses"
        return
    if values is not None:
        assert typed(values) == typed(tuple(getattr(expected, name) for name in FIELD_NAMES))


def test_decode_job_reads_a_common_envelope_with_msgspec() -> None:
    job = Job(id="abc", task="app.tasks.send", queue="mail", args=(1, "x"), enqueued_at=1.5)
    payload = encode_job(job)

    assert job_module._read_with_msgspec is not None
    assert read_with_msgspec(payload) is not None  # not left to json
    assert decode_job(payload) == job
    assert decode_job(payload.encode(), attempt=3) == job.with_changes(attempt=3)


def test_what_msgspec_leaves_to_json_is_still_read_or_refused_by_it() -> None:
    integral_counts = '{"v":1,"id":"a","task":"app.t","attempt":2.0,"meta":0}'
    assert read_with_msgspec(integral_counts) is None
    assert decode_job(integral_counts) == Job(id="a", task="app.t", attempt=2)

    with pytest.raises(DecodeError, match="task must be a dotted Python name"):
        decode_job('{"v":1,"id":"a","task":"a..b"}')
