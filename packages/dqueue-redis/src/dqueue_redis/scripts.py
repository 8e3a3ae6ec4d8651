"""The Lua scripts, each the shared prelude ``common.lua`` followed by its own body.

A script gets the prelude's constants and only the helpers it calls (directly or not).

Scripts run by SHA (``EVALSHA``); a server that doesn't know one (it restarted, or failed over)
answers ``NOSCRIPT``, and the script is loaded and run again. A script that was refused never
ran, so running it again is always safe.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any

import redis
from redis.client import Pipeline
from redis.exceptions import NoScriptError

__all__ = ["SCRIPTS", "Script", "run_in_pipeline"]

Arg = str | bytes | int | float
_HELPER = re.compile(r"^local function (\w+)\(")
_KEY_CONSTANT = re.compile(r"^local (K_\w+) = ")


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


def _split_prelude(prelude: str) -> tuple[str, list[tuple[str, str]]]:
    """The prelude's head (constants) and its helpers as ``(name, text)``, in order.

    A helper's text starts at the comment above its ``local function`` line.
    """
    lines = prelude.splitlines(keepends=True)
    starts: list[tuple[int, str]] = []
    for index, line in enumerate(lines):
        found = _HELPER.match(line)
        if found:
            start = index
            while start > 0 and lines[start - 1].startswith("--"):
                start -= 1
            if (
                start > 0
                and lines[start - 1].startswith("local ")
                and "function" not in lines[start - 1]
            ):
                start -= 1  # state the helper keeps (``local seq_next, seq_last = 1, 0``)
            starts.append((start, found.group(1)))
    head = "".join(lines[: starts[0][0]]) if starts else prelude
    helpers = []
    for position, (start, name) in enumerate(starts):
        end = starts[position + 1][0] if position + 1 < len(starts) else len(lines)
        helpers.append((name, "".join(lines[start:end])))
    return head, helpers


def _needed(body: str, helpers: list[tuple[str, str]]) -> set[str]:
    """The helpers ``body`` calls, directly or through other helpers."""
    texts = dict(helpers)
    needed: set[str] = set()
    pending = [body]
    while pending:
        text = pending.pop()
        for name in texts:
            if name not in needed and re.search(rf"\b{name}\(", text):
                needed.add(name)
                pending.append(texts[name])
    return needed


def _load(name: str, head: str, helpers: list[tuple[str, str]]) -> Script:
    body = resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")
    # Only the helpers the script uses: each one costs a closure on every call.
    needed = _needed(body, helpers)
    used = "".join(text for helper, text in helpers if helper in needed)
    return Script(name, f"{_shake_keys(head, used + body)}{used}\n-- {name}.lua\n{body}")


def _shake_keys(head: str, code: str) -> str:
    """The head without the key names ``code`` never mentions: each is a concatenation per call."""
    kept = []
    for line in head.splitlines(keepends=True):
        key = _KEY_CONSTANT.match(line)
        if key is None or re.search(rf"\b{key.group(1)}\b", code):
            kept.append(line)
    return "".join(kept)


def _load_all() -> dict[str, Script]:
    prelude = resources.files(__package__).joinpath("lua", "common.lua").read_text("utf-8")
    head, helpers = _split_prelude(prelude)
    names = ("enqueue", "reserve", "settle", "renew", "recover", "counts", "clear", "waiting",
             "remove", "bury_raw", "revive", "purge")  # fmt: skip
    return {name: _load(name, head, helpers) for name in names}


#: Every script, by name.
SCRIPTS: dict[str, Script] = _load_all()
