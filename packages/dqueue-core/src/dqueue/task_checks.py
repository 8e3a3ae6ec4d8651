"""What a task call must satisfy before its job is built, worked out once per task.

A job whose arguments don't fit the function, or whose function no worker can import, would
only fail later in a worker (retried, then dead-lettered); both are refused at the call.
"""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable, Mapping
from typing import Any

from .errors import SignatureMismatch

__all__ = ["CallChecks"]

_UNKNOWN: Any = object()
#: Call shapes remembered per task: keywords built from data must not grow the set unbounded.
_MAX_SHAPES = 64


class CallChecks:
    """The checks of one task's calls; shared by the task and the copies ``using()`` makes.

    The signature is read on the first call (``inspect.signature`` is slow), and whether a
    worker can import the function too, since the module has finished defining it by then.
    """

    __slots__ = ("_accepted", "_fn", "_name_given", "_signature", "_unreachable")

    def __init__(self, fn: Callable[..., Any], *, name_given: bool) -> None:
        self._fn = fn
        self._name_given = name_given
        self._signature: inspect.Signature | None = _UNKNOWN
        self._unreachable: str | None = _UNKNOWN
        # Whether a call binds depends only on how many positional arguments it has and which
        # keywords it names, never on their values: the shapes that bound once are remembered,
        # so that a producer's every call costs a set lookup instead of Signature.bind().
        self._accepted: set[tuple[int, tuple[str, ...]]] = set()

    def check_arguments(self, task: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> None:
        """Raise :class:`SignatureMismatch` unless the function could be called with these.

        The message names parameters, never the values given (they may be personal data).
        """
        shape = (len(args), tuple(kwargs))
        if shape in self._accepted:
            return
        signature = self._signature
        if signature is _UNKNOWN:  # two threads may both read it: the same value, harmless
            signature = self._signature = _signature_of(self._fn)
        if signature is None:
            return
        try:
            signature.bind(*args, **kwargs)
        except TypeError as exc:
            plain = signature.replace(
                parameters=[p.replace(annotation=p.empty) for p in signature.parameters.values()],
                return_annotation=inspect.Signature.empty,
            )
            raise SignatureMismatch(
                f"{task}{plain} cannot take these arguments: {exc}; nothing was stored"
            ) from None
        if len(self._accepted) < _MAX_SHAPES:
            self._accepted.add(shape)

    def unreachable(self) -> str | None:
        """Why no worker process could import the function, or ``None`` when one can."""
        reason = self._unreachable
        if reason is _UNKNOWN:
            reason = self._unreachable = None if self._name_given else _unreachable(self._fn)
        return reason


def _signature_of(fn: Callable[..., Any]) -> inspect.Signature | None:
    try:
        return inspect.signature(fn)
    except (TypeError, ValueError):  # no signature to check against (a builtin, a C function)
        return None


def _unreachable(fn: Callable[..., Any]) -> str | None:
    module_name = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", "")
    if module_name is None:  # code run by an interactive shell, or exec'd without a __name__
        return "it was defined in an interactive shell, which has no module to import"
    if module_name == "__main__":
        spec = getattr(sys.modules.get("__main__"), "__spec__", None)
        if spec is None or not spec.name:  # `python -m pkg.mod` has a name workers can import
            return "it was defined in the script being run (module __main__)"
        return None
    module = sys.modules.get(module_name)
    if module is None or "<locals>" in qualname:
        return None  # not ours to judge: a nested function runs only where it was made
    found: Any = module
    for part in qualname.split("."):
        found = getattr(found, part, None)
    if found is fn or getattr(found, "fn", None) is fn or getattr(found, "__wrapped__", None) is fn:
        return None
    # Code exec'd with a copy of a module's globals (a shell's `-c`) names a module without it.
    return f"module {module_name} has no {qualname}: it was defined outside that module"
