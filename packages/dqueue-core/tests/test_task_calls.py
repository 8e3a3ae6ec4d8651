"""A task call that could never run is refused at the call, and nothing is stored."""

from __future__ import annotations

from datetime import timedelta

import pytest

from dqueue import bulk_enqueue, configure, get_backend, task
from dqueue.backends.memory import MemoryBackend
from dqueue.errors import SignatureMismatch


@task(queue="calls")
def greet(name: str, *, polite: bool = False) -> str:
    return f"dear {name}" if polite else name


@pytest.fixture
def memory() -> MemoryBackend:
    configure(BACKEND="memory")
    backend = get_backend("calls")
    assert isinstance(backend, MemoryBackend)
    return backend


def _stored(backend: MemoryBackend) -> int:
    return backend.counts("calls").total


@pytest.mark.parametrize(
    ("args", "kwargs", "words"),
    [
        (("ann", "bob"), {}, "too many positional arguments"),
        ((), {}, "missing a required argument: 'name'"),
        (("ann",), {"loud": True}, "unexpected keyword argument 'loud'"),
        (("ann", True), {}, "too many positional arguments"),  # polite is keyword-only
    ],
)
def test_arguments_that_do_not_fit_the_signature_raise_type_error_and_store_nothing(
    memory: MemoryBackend, args: tuple[object, ...], kwargs: dict[str, object], words: str
) -> None:
    with pytest.raises(TypeError, match=words) as raised:
        greet(*args, **kwargs)
    assert isinstance(raised.value, SignatureMismatch)
    assert f"{greet.name}(name, *, polite=False)" in str(raised.value)
    assert _stored(memory) == 0


def test_every_way_of_enqueueing_checks_the_arguments(memory: MemoryBackend) -> None:
    with pytest.raises(TypeError):
        greet.enqueue("ann", "bob")
    with pytest.raises(TypeError):
        greet.enqueue_in(timedelta(minutes=5), "ann", "bob")
    with pytest.raises(TypeError):
        greet.using(priority=3, queue="calls").enqueue()
    assert _stored(memory) == 0


def test_a_bad_call_in_a_bulk_enqueue_raises_at_that_call(memory: MemoryBackend) -> None:
    with bulk_enqueue():
        greet("ann")
        with pytest.raises(TypeError):
            greet("ann", "bob")
    with greet.bulk_enqueue() as enqueue, pytest.raises(TypeError):
        enqueue(polite=True)
    assert _stored(memory) == 1


def test_the_message_names_parameters_never_the_values_given(memory: MemoryBackend) -> None:
    with pytest.raises(TypeError) as raised:
        greet("secret-address@example.com", "secret-2")
    assert "secret" not in str(raised.value)
    assert "name" in str(raised.value)


def test_arguments_that_fit_are_enqueued(memory: MemoryBackend) -> None:
    greet("ann", polite=True)
    greet(name="bob")
    assert _stored(memory) == 2
