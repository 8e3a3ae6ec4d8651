"""Hostile envelopes: every one is a DecodeError naming the field, never quoting its value."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dqueue.errors import DecodeError, EncodeError
from dqueue.job import MAX_NESTING, MAX_PAYLOAD_BYTES, Job, decode_job, encode_job
from dqueue.json_values import may_nest_too_deep

SECRET = "SECRET-7f3a"


def envelope(**changes: Any) -> dict[str, Any]:
    job = Job(id="abc", task="app.tasks.send", queue="mail", args=(1, "x"), kwargs={"to": "a"})
    data = job.to_dict()  # every field, as an older dqueue or a foreign producer writes it
    data.update(changes)
    return data


def dump(data: dict[str, Any]) -> str:
    return json.dumps(data, separators=(",", ":"))


def replaced(old: str, new: str) -> str:
    """The compact envelope with ``old`` replaced by raw JSON text ``new``."""
    text = dump(envelope())
    assert old in text
    return text.replace(old, new)


def nested(levels: int) -> str:
    return "[" * levels + "]" * levels


# (case, payload, words the message must contain, text it must not contain)
HOSTILE: list[tuple[str, str, str, str]] = [
    ("enqueued_at a string", dump(envelope(enqueued_at=SECRET)), "enqueued_at", SECRET),
    ("run_after a list", dump(envelope(run_after=[SECRET])), "run_after", SECRET),
    ("timeout a bool", dump(envelope(timeout=True)), "timeout", "True"),
    ("timeout past a float", dump(envelope(timeout=10**400)), "timeout", "1000000"),
    ("attempt overflows", replaced('"attempt":0', '"attempt":1e999'), "", "1e999"),
    ("attempt Infinity", replaced('"attempt":0', '"attempt":Infinity'), "Infinity", ""),
    ("max_attempts NaN", replaced('"max_attempts":1', '"max_attempts":NaN'), "NaN", ""),
    ("priority -Infinity", replaced('"priority":0', '"priority":-Infinity'), "Infinity", ""),
    ("NaN in an argument", replaced('"args":[1,', '"args":[NaN,'), "NaN", ""),
    ("1e999 in meta", replaced('"meta":{}', '"meta":{"x":1e999}'), "range", "1e999"),
    ("attempt a fraction", dump(envelope(attempt=1.5)), "attempt", "1.5"),
    ("attempt negative", dump(envelope(attempt=-3)), "attempt", "-3"),
    ("attempt a bool", dump(envelope(attempt=True)), "attempt", "True"),
    ("attempt a string", dump(envelope(attempt=SECRET)), "attempt", SECRET),
    ("max_attempts zero", dump(envelope(max_attempts=0)), "max_attempts", "0 "),
    ("max_attempts huge", dump(envelope(max_attempts=10**30)), "max_attempts", str(10**30)),
    ("priority out of range", dump(envelope(priority=1000)), "priority", "1000"),
    ("priority a string", dump(envelope(priority=SECRET)), "priority", SECRET),
    ("sigkill_on_stop a string", dump(envelope(sigkill_on_stop=SECRET)), "sigkill_on_stop", SECRET),
    ("unique_key a number", dump(envelope(unique_key=12345)), "unique_key", "12345"),
    ("task with a newline", dump(envelope(task="app.x\nINFO forged")), "task", "forged"),
    ("task with a space", dump(envelope(task="app x")), "task", "app x"),
    ("task with an empty part", dump(envelope(task="app..x")), "task", "app..x"),
    ("task with a digit first", dump(envelope(task="app.1x")), "task", "app.1x"),
    ("long task with a newline", dump(envelope(task="app." + "x" * 300 + "\n")), "task", "xxx"),
    ("task with a slash", dump(envelope(task="os/system")), "task", "os/system"),
    ("task starting with a dot", dump(envelope(task=".app")), "task", ".app"),
    ("task a number", dump(envelope(task=12345)), "task", "12345"),
    ("id empty", dump(envelope(id="")), "id", ""),
    ("queue a list", dump(envelope(queue=[SECRET])), "queue", SECRET),
    ("version a string", dump(envelope(v=SECRET)), "version", SECRET),
    ("version zero", dump(envelope(v=0)), "version", ""),
    ("a second value after the envelope", dump(envelope()) + ' {"id":1}', "Extra data", ""),
    ("text after the envelope", dump(envelope()) + SECRET, "Extra data", SECRET),
    ("nothing but spaces", "   ", "Expecting value", ""),
    (
        "arguments past the nesting limit",
        replaced('"args":[1,', f'"args":[{nested(MAX_NESTING + 1)},'),
        "args",
        "",
    ),
    (
        "kwargs past the nesting limit",
        replaced('"kwargs":{', f'"kwargs":{{"deep":{nested(MAX_NESTING + 1)},'),
        "kwargs",
        "",
    ),
    (
        "meta past the nesting limit",
        replaced('"meta":{}', f'"meta":{{"x":{nested(MAX_NESTING + 1)}}}'),
        "meta",
        "",
    ),
    (
        "arguments past json's recursion",
        replaced('"args":[1,', f'"args":[{nested(100_000)},'),
        "nested",
        "",
    ),
    (
        "payload past the size limit",
        dump(envelope(args=["x" * MAX_PAYLOAD_BYTES])),
        "limit",
        "xxxx",
    ),
]


@pytest.mark.parametrize(
    ("payload", "names", "hidden"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_a_hostile_envelope_is_a_decode_error_naming_the_field_not_its_value(
    payload: str, names: str, hidden: str
) -> None:
    for raw in (payload, payload.encode()):
        with pytest.raises(DecodeError) as info:
            decode_job(raw)
        assert info.value.payload == raw
        assert names in str(info.value)
        if hidden:
            assert hidden not in str(info.value)


def test_nesting_up_to_the_limit_round_trips() -> None:
    value: Any = []
    for _ in range(MAX_NESTING - 1):
        value = [value]
    job = Job(id="abc", task="app.t", args=(value,), kwargs={"k": value}, meta={"m": value})
    assert decode_job(encode_job(job)) == job


@pytest.mark.parametrize(
    "job",
    [
        Job(id="a", task="app.t"),
        Job(
            id="a",
            task="app.tasks.send",
            queue="q",
            args=(1, 2.5, "é", None, True, [1], {"a": 1}),
            kwargs={"k": {"n": [1, 2]}},
            enqueued_at=1764720000.25,
            run_after=1764720100.0,
            attempt=2,
            max_attempts=5,
            timeout=3.5,
            sigkill_on_stop=True,
            unique_key="u",
            unique_for=60.0,
            priority=-100,
            result_ttl=10.0,
            meta={"trace": "x"},
        ),
        Job(id="a", task="tests.test_x.outer.<locals>.inner", priority=100),
        Job(id="a", task="packages.dqueue-core.tests.test_task.add"),
        Job(id="a", task="<undecodable>"),
        Job(id="a", task="app." + "x" * 300),  # long names are checked but not cached
        Job(id="a", task="app.t", args=("[" * 500,)),  # brackets in strings are not nesting
    ],
)
def test_valid_jobs_round_trip_unchanged(job: Job) -> None:
    assert decode_job(encode_job(job)) == job
    assert decode_job(encode_job(job).encode()) == job


def test_the_shortest_envelope_nested_past_the_limit_is_refused_both_ways() -> None:
    # Brackets are counted only in a text long enough to nest past the limit: this one is
    # barely long enough, and so is the bare value (MAX_NESTING + 1 pairs, nothing else).
    text = '{"v":1,"id":"a","task":"a.b","args":[' + nested(MAX_NESTING + 1) + "]}"
    for payload in (text, text.encode()):
        with pytest.raises(DecodeError, match="args"):
            decode_job(payload)
    assert may_nest_too_deep(nested(MAX_NESTING + 1))
    assert may_nest_too_deep(nested(MAX_NESTING + 1).encode())
    assert not may_nest_too_deep(nested(MAX_NESTING))


def test_spaces_around_an_envelope_from_another_writer_are_read_past() -> None:
    job = Job(id="abc", task="app.tasks.send", queue="mail", args=(1, "x"))

    assert decode_job(f"  {encode_job(job)}\n") == job
    assert decode_job(json.dumps(envelope(), indent=2)) == decode_job(dump(envelope()))


def test_an_integral_float_count_from_another_writer_is_read_as_an_integer() -> None:
    job = decode_job(json.dumps(envelope(attempt=2.0, max_attempts=3.0, priority=-5.0)))
    assert (job.attempt, job.max_attempts, job.priority) == (2, 3, -5)
    assert type(job.attempt) is int


def test_encode_refuses_an_argument_nested_past_the_limit_naming_it() -> None:
    value: Any = []
    for _ in range(MAX_NESTING):
        value = [value]
    expected = rf"argument 1 of app\.t is nested more than {MAX_NESTING} levels"
    with pytest.raises(EncodeError, match=expected):
        encode_job(Job(id="a", task="app.t", args=(1, value)))


def test_encode_refuses_an_argument_nested_past_json_recursion() -> None:
    value: Any = []
    for _ in range(100_000):
        value = [value]
    with pytest.raises(EncodeError, match=r"argument 'deep' of app\.t is nested"):
        encode_job(Job(id="a", task="app.t", kwargs={"deep": value}))


def test_encode_refuses_an_envelope_past_the_size_limit() -> None:
    with pytest.raises(EncodeError, match=rf"over the limit of {MAX_PAYLOAD_BYTES} bytes"):
        encode_job(Job(id="a", task="app.t", args=("é" * (MAX_PAYLOAD_BYTES // 2),)))


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"task": "app.x\ny"}, "task"),
        ({"attempt": -1}, "attempt"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"priority": 101}, "priority"),
    ],
)
def test_encode_refuses_what_decode_would_refuse(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(EncodeError, match=field):
        encode_job(Job(id="a", task="app.t").with_changes(**changes))
