"""The Lua scripts: each is the shared prelude ``lua/common.lua``, then its own file.

The prelude is concatenated whole, with no linking: a helper a script doesn't call costs a
closure per call, about a microsecond of server time.

Each backend registers the scripts with its client as redis-py ``Script`` objects, which run by
SHA (``EVALSHA``) and load the script again when the server forgot it (``NOSCRIPT``: it
restarted, or failed over). A refused script never ran, so running it again is always safe.
"""

from __future__ import annotations

from importlib import resources

import redis
from redis.commands.core import Script

__all__ = ["SOURCES", "Arg", "register"]

#: What a script takes as an argument.
Arg = str | bytes | int | float

_PRELUDE = "common.lua"


def _sources() -> dict[str, str]:
    folder = resources.files(__package__).joinpath("lua")
    prelude = folder.joinpath(_PRELUDE).read_text("utf-8")
    return {
        entry.name.removesuffix(".lua"): f"{prelude}\n-- {entry.name}\n{entry.read_text('utf-8')}"
        for entry in folder.iterdir()
        if entry.name.endswith(".lua") and entry.name != _PRELUDE
    }


#: The text of every script, by the name of its file in ``lua/`` (``"reserve"``).
SOURCES: dict[str, str] = _sources()


def register(client: redis.Redis) -> dict[str, Script]:
    """Every script, by name, as a ``Script`` of ``client``."""
    return {name: client.register_script(text) for name, text in SOURCES.items()}
