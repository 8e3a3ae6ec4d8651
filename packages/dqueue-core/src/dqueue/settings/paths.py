"""Where a relative path in the settings points: one file for every process of a project.

A relative ``DQUEUE_SQLITE_PATH`` (its default, ``dqueue.sqlite3``, is one) was read against each
process's working folder, so a producer and a runner started in different folders used
different files and the queue split silently. It is resolved against one stable folder
instead, the first of: the folder of the ``--config`` file, the framework project's folder
(dqueue-django passes Django's ``BASE_DIR``), a per-user data folder.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .core import Settings

__all__ = ["BaseFolder", "resolve_paths", "user_data_folder"]


@dataclass(frozen=True, slots=True)
class BaseFolder:
    """The folder relative paths are resolved against, and how to name it to a user."""

    path: Path
    #: Where it comes from, as a phrase: "the folder of the --config file settings.py".
    origin: str
    #: Made when missing (the per-user folder: nothing else would create it).
    create: bool = False


def user_data_folder(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user data folder of dqueue: ``$XDG_DATA_HOME/dqueue`` or ``~/.local/share/dqueue``.

    On macOS ``~/Library/Application Support/dqueue``; on Windows ``dqueue`` in ``%LOCALAPPDATA%``.
    """
    env = os.environ if environ is None else environ
    home = Path.home()
    if sys.platform == "win32":
        base = Path(env.get("LOCALAPPDATA") or home / "AppData" / "Local")
    elif sys.platform == "darwin":
        base = home / "Library" / "Application Support"
    else:  # the XDG base directory spec ignores a relative XDG_DATA_HOME
        xdg = env.get("XDG_DATA_HOME", "")
        base = Path(xdg) if os.path.isabs(xdg) else home / ".local" / "share"
    return base / "dqueue"


def resolve_paths(settings: Settings, base: BaseFolder) -> Settings:
    """``settings`` with a relative ``SQLITE_PATH`` made absolute against ``base``.

    ``path_notes`` says what was resolved against what, for status and configuration to show.
    An absolute path (``~`` expanded) and an in-memory name are left for the backend to judge.
    """
    raw = settings.SQLITE_PATH
    if not raw or raw == ":memory:" or raw.startswith("file:"):
        return settings
    if os.path.isabs(os.path.expanduser(raw)):
        return settings
    absolute = base.path / raw
    if base.create:  # failing, the SQLite backend says what is wrong with the folder
        with contextlib.suppress(OSError):
            base.path.mkdir(parents=True, exist_ok=True)
    given = "" if "SQLITE_PATH" in settings.given else ", the default,"
    note = f"DQUEUE_SQLITE_PATH {raw!r}{given} is relative: resolved against {base.origin}"
    return dataclasses.replace(
        settings, SQLITE_PATH=str(absolute), path_notes=(*settings.path_notes, note)
    )
