from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from dqueue.errors import DecodeError, EncodeError
from dqueue.job import (
    ENVELOPE_VERSION,
    Job,
    JobFailure,
    check_json_arguments,
    decode_job,
    encode_job,
    new_job_id,
)


def make_job(**changes: object) -> Job:
    base = Job(id="abc", task="app.tasks.send", queue="mail", args=(1, "x"), kwargs={"to": "a"})
    return base.with_changes(**changes)


def test_encode_then_decode_returns_an_equal_job() -> None:
    job = make_job(run_after=12.5, attempt=2, max_attempts=5, priority=7, meta={"k": [1]})
    assert decode_job(encode_job(job)) == job


def test_decode_builds_the_job_with_the_attempt_a_store_counts() -> None:
    job = make_job(attempt=0, max_attempts=5)
    assert decode_job(encode_job(job), attempt=3) == job.with_changes(attempt=3)


def test_decode_checks_the_envelopes_own_attempt_when_given_the_stores() -> None:
    data = json.loads(encode_job(make_job()))
    data["attempt"] = -1
    with pytest.raises(DecodeError, match="attempt"):
        decode_job(json.dumps(data), attempt=1)


def test_envelope_is_versioned_json_with_the_documented_keys() -> None:
    every_option = make_job(
        run_after=12.5,
        attempt=2,
        max_attempts=5,
        timeout=30.0,
        sigkill_on_stop=True,
        unique_key="k",
        unique_for=60.0,
        priority=7,
        result_ttl=3600.0,
        meta={"k": [1]},
    )
    data = json.loads(encode_job(every_option))
    assert data["v"] == ENVELOPE_VERSION
    assert set(data) == {"v", *(field.name for field in dataclasses.fields(Job))}
    assert list(data) == list(every_option.to_dict())  # the documented order
    assert decode_job(encode_job(every_option)) == every_option


def test_envelope_leaves_out_the_fields_at_their_default() -> None:
    data = json.loads(encode_job(Job(id="abc", task="app.tasks.send", enqueued_at=1.5)))
    assert data == {
        "v": 1,
        "id": "abc",
        "task": "app.tasks.send",
        "queue": "default",
        "enqueued_at": 1.5,
    }


def test_an_envelope_with_every_field_written_out_is_read_alike() -> None:
    """As earlier versions of dqueue wrote them, and as a foreign producer may."""
    job = make_job(meta={"k": [1]})
    assert decode_job(json.dumps(job.to_dict())) == job
    assert "run_after" in job.to_dict()  # to_dict() keeps its full form


def test_decode_ignores_unknown_keys_for_rolling_deploys() -> None:
    data = json.loads(encode_job(make_job()))
    data["added_by_a_newer_version"] = {"x": 1}
    assert decode_job(json.dumps(data)).id == "abc"


@pytest.mark.parametrize("missing", ["v", "id", "task"])
def test_decode_refuses_a_payload_without_a_required_key(missing: str) -> None:
    data = json.loads(encode_job(make_job()))
    del data[missing]
    payload = json.dumps(data)
    with pytest.raises(DecodeError, match=missing) as info:
        decode_job(payload)
    assert info.value.payload == payload


@pytest.mark.parametrize(
    "payload",
    [
        "not json",
        "[1, 2]",
        '{"v": 99, "id": "a", "task": "t"}',
        '{"v": 1, "id": "a", "task": "t", "args": "nope"}',
    ],
)
def test_decode_refuses_garbage_and_keeps_the_raw_payload(payload: str) -> None:
    with pytest.raises(DecodeError) as info:
        decode_job(payload)
    assert info.value.payload == payload


def test_encode_error_names_the_positional_argument() -> None:
    with pytest.raises(EncodeError, match=r"argument 1 of app\.tasks\.send"):
        encode_job(make_job(args=(1, object())))


def test_encode_error_names_the_keyword_argument() -> None:
    with pytest.raises(EncodeError, match="argument 'when'"):
        check_json_arguments((), {"when": {1, 2}}, task="t")


def test_arguments_that_change_in_a_round_trip_are_refused() -> None:
    with pytest.raises(EncodeError, match="round trip"):
        check_json_arguments(({1: "int key"},), {}, task="t")


def test_nan_is_refused_because_json_has_no_nan() -> None:
    with pytest.raises(EncodeError):
        check_json_arguments((float("nan"),), {}, task="t")


@pytest.mark.parametrize(
    ("args", "kwargs", "where"),
    [
        (((1, 2),), {}, "argument 0"),
        (([1, {"pair": (1, 2)}],), {}, "argument 0"),
        ((), {"point": (1, 2)}, "argument 'point'"),
    ],
)
def test_a_tuple_argument_is_refused_because_it_would_come_back_a_list(
    args: tuple[Any, ...], kwargs: dict[str, Any], where: str
) -> None:
    with pytest.raises(EncodeError, match=f"{where} of t holds a tuple.*use a list"):
        check_json_arguments(args, kwargs, task="t")
    check_json_arguments((1, [2, 3]), {}, task="t")  # the call's own tuple is no argument


def test_job_ids_are_unique_and_sort_by_creation_time() -> None:
    ids = [new_job_id() for _ in range(1000)]
    assert len(set(ids)) == 1000
    assert all(len(i) == 32 for i in ids)
    assert [i[:12] for i in ids] == sorted(i[:12] for i in ids)


def test_due_at_is_run_after_or_enqueue_time() -> None:
    assert make_job(enqueued_at=5.0).due_at == 5.0
    assert make_job(enqueued_at=5.0, run_after=9.0).due_at == 9.0


def test_describe_never_shows_arguments() -> None:
    assert "x" not in make_job(args=("secret-x",)).describe().replace("app.tasks.send", "")


def test_failure_from_exception_keeps_type_message_and_traceback() -> None:
    try:
        raise ValueError("bad input")
    except ValueError as exc:
        failure = JobFailure.from_exception(exc, at=1.0, attempt=2)
    assert failure.exception_type == "builtins.ValueError"
    assert failure.message == "bad input"
    assert "raise ValueError" in failure.traceback
    assert failure.summary() == "ValueError: bad input"
    assert JobFailure.from_dict(failure.to_dict()) == failure


def test_encoding_leaves_the_job_as_it_was() -> None:
    job = make_job()
    before = dataclasses.replace(job)
    payload = encode_job(job)
    assert job == before
    assert encode_job(job) == payload
    with pytest.raises(dataclasses.FrozenInstanceError):
        job.attempt = 2  # type: ignore[misc]


def test_with_changes_copies_the_job_with_the_changes() -> None:
    job = make_job()
    changed = job.with_changes(attempt=3)
    assert changed.attempt == 3
    assert changed.id == job.id
    assert decode_job(encode_job(changed)).attempt == 3


def test_with_changes_refuses_an_unknown_field() -> None:
    with pytest.raises(TypeError, match="no field"):
        make_job().with_changes(nonsense=1)
