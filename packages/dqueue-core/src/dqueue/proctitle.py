"""Process titles, so that ``ps`` shows what each dqueue process is doing.

Uses :mod:`setproctitle` when installed (``dqueue-core[setproctitle]``). Titles never show a
job's arguments: those may hold personal data, and ``ps`` is readable by every user.
"""

from __future__ import annotations

import contextlib
import importlib
from typing import Any

__all__ = ["can_set_process_title", "set_process_title"]


_setproctitle: Any = None  # the module, when installed
with contextlib.suppress(ImportError):
    _setproctitle = importlib.import_module("setproctitle")
_last_title = ""


def can_set_process_title() -> bool:
    """Whether titles show (setproctitle is installed): else nobody need build one per job."""
    return _setproctitle is not None


def set_process_title(title: str) -> None:
    """Show ``title`` in ``ps`` and ``top`` (a no-op without setproctitle)."""
    global _last_title
    if title == _last_title:
        return  # titles change per job; skip the syscall when nothing changed
    _last_title = title
    if _setproctitle is not None:
        _setproctitle.setproctitle(title)
