"""Frozen dataclasses built on the worker's hot path without their ``__init__``.

A frozen dataclass's ``__init__`` sets each field with ``object.__setattr__`` (its own
``__setattr__`` refuses), a call per field: building a ``Job`` took 2.4 µs that way, and the
worker builds a ``Job``, an ``Execution`` and an ``Outcome`` for every job it runs.
:func:`unchecked_builder` gives a class with the same slots whose generated ``__init__`` stores
them directly (0.5 µs) and then turns the object into the frozen class: Python allows the change
of ``__class__`` between classes of the same slot layout, and the object is from then on exactly
what the frozen ``__init__`` would have built.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["unchecked_builder"]

_T = TypeVar("_T")


def unchecked_builder(cls: type[_T]) -> Callable[..., _T]:
    """A constructor of the slotted dataclass ``cls`` that skips its ``__init__``.

    It takes the fields in their order, positionally or by name, with the same defaults, and
    checks nothing (no ``__post_init__``): it is for values already checked, as a decoded job's
    are.

    Raises:
        TypeError: ``cls`` is not a dataclass with ``slots=True``.
    """
    if not dataclasses.is_dataclass(cls) or "__slots__" not in vars(cls):
        raise TypeError(f"{cls.__name__} is not a dataclass with slots")

    def become_frozen(self: Any) -> None:
        self.__class__ = cls

    writable = dataclasses.make_dataclass(
        f"Writable{cls.__name__}",
        [(item.name, item.type, _same_default(item)) for item in dataclasses.fields(cls)],
        namespace={"__post_init__": become_frozen},
        slots=True,
        eq=False,
        repr=False,
        match_args=False,
    )
    if vars(writable)["__slots__"] != vars(cls)["__slots__"]:  # the layouts must match
        raise TypeError(f"{cls.__name__} has slots beyond its fields")
    builder: Callable[..., _T] = writable
    return builder


def _same_default(item: dataclasses.Field[Any]) -> Any:
    """A field with ``item``'s default, without its other options (positional, compared...)."""
    if item.default is not dataclasses.MISSING:
        return dataclasses.field(default=item.default)
    if item.default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=item.default_factory)
    return dataclasses.field()
