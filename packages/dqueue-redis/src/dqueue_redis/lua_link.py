"""Put together a script from the shared prelude: only the definitions it uses, in order.

Redis runs a script's whole text on every call: each ``local function`` of the prelude makes a
closure and each ``local K_... = base .. '...'`` a new string, whether the script uses it or
not. With the whole prelude (about 30 helpers and 20 key names) in front of every script, an
enqueue spent more server time on the prelude than on its own commands; linked, a script pays
for what it calls.

A definition is a top-level ``local`` statement of the prelude (``local function f(...)``
up to the next one, or ``local A, B = ...``), with the comments above it. A definition is kept
when a kept text names one of its names; names are Lua identifiers, so a name that only a
comment or a string mentions keeps a definition it did not need, which costs time, never
correctness.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

__all__ = ["link"]

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FUNCTION = re.compile(r"local function ([A-Za-z_][A-Za-z0-9_]*)")


@dataclass(frozen=True)
class _Definition:
    names: frozenset[str]
    text: str
    uses: frozenset[str]


@functools.cache  # one prelude, read once for every script
def _definitions(prelude: str) -> list[_Definition]:
    """The prelude's top-level ``local`` statements, each with the comment lines above it."""
    lines = prelude.splitlines(keepends=True)
    starts = [index for index, line in enumerate(lines) if line.startswith("local ")]
    definitions: list[_Definition] = []
    begin = 0  # the file's header comment goes with the first definition
    for number, start in enumerate(starts):
        end = starts[number + 1] if number + 1 < len(starts) else len(lines)
        while end > start + 1 and lines[end - 1].startswith("--"):
            end -= 1  # the next definition's comment is the next definition's
        text = "".join(lines[begin:end])
        uses = frozenset(_IDENTIFIER.findall(text))
        definitions.append(_Definition(_defined_names(lines[start]), text, uses))
        begin = end
    return definitions


def _defined_names(line: str) -> frozenset[str]:
    if match := _FUNCTION.match(line):
        return frozenset({match.group(1)})
    targets = line.removeprefix("local ").split("=", 1)[0]
    return frozenset(name.strip() for name in targets.split(","))


def link(prelude: str, body: str) -> str:
    """``body`` after the definitions of ``prelude`` that it uses, directly or through others."""
    definitions = _definitions(prelude)
    wanted = set(_IDENTIFIER.findall(body))
    kept: set[int] = set()
    changed = True
    while changed:  # a kept definition may use others: until nothing more is wanted
        changed = False
        for index, definition in enumerate(definitions):
            if index not in kept and definition.names & wanted:
                kept.add(index)
                wanted |= definition.uses
                changed = True
    return "".join(definitions[index].text for index in sorted(kept)) + body
