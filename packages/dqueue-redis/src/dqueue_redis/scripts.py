"""The Lua scripts, each the shared prelude ``common.lua`` followed by its own body.

Scripts run by SHA (``EVALSHA``); a server that doesn't know one (it restarted, or failed over)
answers ``NOSCRIPT``, and the script is loaded and run again. A script that was refused never
ran, so running it again is always safe.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError

__all__ = ["SCRIPTS", "Script", "run_in_pipeline"]

Arg = str | bytes | int | float


class Script:
    """One Lua script, run by SHA with a transparent reload."""

    def __init__(self, name: str, source: str) -> None:
        self.name = name
        self.source = source
        self.sha = hashlib.sha1(source.encode()).hexdigest()  # Redis names scripts by SHA-1

    def __call__(self, client: redis.Redis, key: str, args: Sequence[Arg]) -> Any:
        """Run against ``client``; ``key`` is any key of the queue (it routes the call)."""
        try:
            return _untyped(client).execute_command("EVALSHA", self.sha, 1, key, *args)
        except NoScriptError:
            client.script_load(self.source)
            return _untyped(client).execute_command("EVALSHA", self.sha, 1, key, *args)

    def queue(self, pipeline: Pipeline, key: str, args: Sequence[Arg]) -> None:
        """Add a run to ``pipeline`` (see :func:`run_in_pipeline`)."""
        _untyped(pipeline).execute_command("EVALSHA", self.sha, 1, key, *args)


def _untyped(client: redis.Redis | Pipeline) -> Any:
    """redis-py leaves ``execute_command`` untyped."""
    return client


def run_in_pipeline(
    client: redis.Redis, calls: Sequence[tuple[Script, str, Sequence[Arg]]]
) -> list[Any]:
    """Run several scripts in one round trip; the ones the server didn't know run again."""
    pipeline = client.pipeline(transaction=False)
    for script, key, args in calls:
        script.queue(pipeline, key, args)
    results: list[Any] = pipeline.execute(raise_on_error=False)
    for index, result in enumerate(results):
        if isinstance(result, NoScriptError):
            script, key, args = calls[index]
            results[index] = script(client, key, args)
        elif isinstance(result, Exception):
            raise result
    return results


def _load(name: str, prelude: str) -> Script:
    body = resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")
    return Script(name, f"{prelude}\n-- {name}.lua\n{body}")


def _load_all() -> dict[str, Script]:
    prelude = resources.files(__package__).joinpath("lua", "common.lua").read_text("utf-8")
    names = ("enqueue", "reserve", "settle", "renew", "recover", "counts", "clear", "waiting",
             "remove", "bury_raw", "revive", "purge")  # fmt: skip
    return {name: _load(name, prelude) for name in names}


#: Every script, by name.
SCRIPTS: dict[str, Script] = _load_all()
