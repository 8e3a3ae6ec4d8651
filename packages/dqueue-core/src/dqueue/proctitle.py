"""Process titles, so that ``ps`` shows what each dqueue process is doing.

Uses :mod:`setproctitle` when it is installed (``pip install dqueue-core[setproctitle]``) and
does nothing otherwise. Titles name the queue, the slot and the running task with its job id,
never a job's arguments: those may hold personal data, and ``ps`` is readable by every user.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

__all__ = ["get_process_title", "set_process_title"]


def _load() -> tuple[Callable[[str], None] | None, Callable[[], str] | None]:
    try:
        module: Any = importlib.import_module("setproctitle")
    except ImportError:
        return None, None
    return module.setproctitle, module.getproctitle


_setter, _getter = _load()
_last_title = ""


def set_process_title(title: str) -> None:
    """Show ``title`` in ``ps`` and ``top`` (a no-op without setproctitle)."""
    global _last_title
    if title == _last_title:
        return  # titles change per job; skip the syscall when nothing changed
    _last_title = title
    if _setter is not None:
        _setter(title)


def get_process_title() -> str:
    """The title last set (what ``ps`` shows when setproctitle is installed)."""
    if _getter is not None and _last_title:
        return _getter()
    return _last_title
