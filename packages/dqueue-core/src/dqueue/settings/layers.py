"""Layers: where setting values come from (the environment, a ``--config`` python file)."""

from __future__ import annotations

import difflib
import os
import runpy
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import ConfigurationError
from .core import Settings, all_setting_types
from .sections import PREFIX, parse_environment

__all__ = ["environment_layer", "file_layer", "suggest_name"]


def environment_layer(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read ``DQUEUE_*`` environment variables.

    Values are parsed as JSON when they parse (``DQUEUE_WORKERS='{"default": 2}'``,
    ``DQUEUE_PREFETCH=8``, ``DQUEUE_STRICT_QUEUES=false``) and kept as strings otherwise
    (``DQUEUE_BACKEND=dqueue.backends.sqlite.SQLiteBackend``). Lists may also be written
    comma-separated (``DQUEUE_TASKS=app.tasks,other.tasks``), and yes/no settings as
    ``true``/``false``, ``1``/``0``, ``yes``/``no`` or ``on``/``off`` in any case.
    """
    source = os.environ if environ is None else environ
    types = all_setting_types()
    layer: dict[str, Any] = {}
    for full_name, raw in source.items():
        short = full_name.removeprefix(PREFIX)
        if full_name.startswith(PREFIX) and short in types:
            layer[full_name] = parse_environment(types[short], raw)
    return layer


def suggest_name(name: str) -> str | None:
    """The setting's full name closest to ``name``, if one is close enough to be a typo."""
    known = sorted(PREFIX + short for short in Settings.names())
    full_name = name if name.startswith(PREFIX) else PREFIX + name
    matches = difflib.get_close_matches(full_name, known, n=1, cutoff=0.75)
    return matches[0] if matches else None


def file_layer(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Run a python config file and take its ``DQUEUE_*`` names.

    ``WORKERS = {...}`` without the prefix is accepted too, as the seed's ``special.py`` shows.
    An UPPERCASE name that is not a setting gets a warning (with the closest setting's name),
    so typos don't pass silently.

    Raises:
        ConfigurationError: the file is missing or fails to run.
    """
    file = Path(path)
    if not file.is_file():
        problem = "is not a file" if file.exists() else "does not exist"
        raise ConfigurationError(f"config file {str(file)!r} {problem}")
    try:
        names = runpy.run_path(str(file), run_name=f"dqueue_config_{abs(hash(file))}")
    except (Exception, SystemExit) as exc:
        raise ConfigurationError(
            f"config file {str(file)!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    known = set(Settings.names())
    layer: dict[str, Any] = {}
    unexpected: list[str] = []
    for name, value in names.items():
        if not name.isupper() or name.startswith("_"):
            continue
        short = name.removeprefix(PREFIX)
        if short in known:
            layer[PREFIX + short] = value
        else:
            close = suggest_name(name)
            unexpected.append(f"{name} (did you mean {close}?)" if close else name)
    if unexpected:
        warnings.warn(
            f"Ignoring unexpected setting(s) {', '.join(sorted(unexpected))} in {file}",
            stacklevel=2,
        )
    return layer
