"""Frozen values built without their ``__init__`` are the same values as built with it."""

from __future__ import annotations

import dataclasses
import pickle

import pytest

from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.job import Job
from dqueue.unchecked import unchecked_builder


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Point:
    x: int
    y: int = 0
    tags: list[str] = dataclasses.field(default_factory=list)

    def __post_init__(self) -> None:
        if self.x < 0:
            raise ValueError("x must not be negative")


def test_a_built_value_equals_the_one_its_init_builds_and_is_of_its_class() -> None:
    build = unchecked_builder(Point)

    point = build(x=1, y=2, tags=["a"])

    assert type(point) is Point
    assert point == Point(x=1, y=2, tags=["a"])
    assert repr(point) == "Point(x=1, y=2, tags=['a'])"
    assert pickle.loads(pickle.dumps(point)) == point


def test_the_fields_come_in_order_or_by_name_with_the_same_defaults() -> None:
    build = unchecked_builder(Point)

    assert build(3) == Point(x=3)
    assert build(3, 4) == Point(x=3, y=4)
    first, second = build(x=1), build(x=1)
    assert first.tags == []
    assert first.tags is not second.tags  # a fresh default each time


def test_a_built_value_is_frozen() -> None:
    point = unchecked_builder(Point)(x=1)

    with pytest.raises(dataclasses.FrozenInstanceError):
        point.x = 2  # type: ignore[misc]


def test_nothing_is_checked_the_values_are_the_callers_responsibility() -> None:
    assert unchecked_builder(Point)(x=-1).x == -1  # __post_init__ would refuse it


def test_a_class_without_slots_is_refused() -> None:
    @dataclasses.dataclass(frozen=True)
    class Loose:
        x: int

    with pytest.raises(TypeError, match="Loose is not a dataclass with slots"):
        unchecked_builder(Loose)


def test_the_hot_path_values_are_equal_to_their_checked_twins() -> None:
    job = Job(id="j1", task="app.tasks.send", queue="mail", args=(1,), enqueued_at=5.0)
    fields = {item.name: getattr(job, item.name) for item in dataclasses.fields(Job)}

    assert unchecked_builder(Job)(**fields) == job
    outcome = unchecked_builder(Outcome)(job=job, kind=OutcomeKind.ACK, started_at=6.0)
    assert outcome == Outcome(job=job, kind=OutcomeKind.ACK, started_at=6.0)
    assert outcome.lateness_s == 1.0
