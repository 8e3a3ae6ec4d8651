"""A strict parser of the Prometheus text format (0.0.4), written from the spec.

The tests check dqueue's exposition with it, so it shares no code with :mod:`dqueue.metrics`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_HELP = re.compile(rf"# HELP ({_NAME}) (.*)")
_TYPE = re.compile(rf"# TYPE ({_NAME}) (counter|gauge|histogram|summary|untyped)")
_SAMPLE = re.compile(rf"({_NAME})(\{{.*\}})? (\S+)")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')


def _unescape(value: str) -> str:
    return re.sub(r"\\(\\|\"|n)", lambda m: "\n" if m[1] == "n" else m[1], value)


def _labels(text: str | None) -> dict[str, str]:
    if not text:
        return {}
    body = text[1:-1]
    labels: dict[str, str] = {}
    position = 0
    while position < len(body):
        match = _LABEL.match(body, position)
        assert match, f"bad label set {text!r} at {body[position:]!r}"
        assert match[1] not in labels, f"label {match[1]} twice in {text!r}"
        labels[match[1]] = _unescape(match[2])
        position = match.end()
    return labels


def _number(text: str) -> float:
    assert re.fullmatch(r"[+-]?Inf|NaN|[+-]?[0-9.]+(e[+-]?[0-9]+)?", text), text
    return float(text.replace("Inf", "inf"))


@dataclass
class Family:
    name: str
    help: str = ""
    kind: str = ""
    samples: list[tuple[str, dict[str, str], float]] = field(default_factory=list)


def parse(text: str) -> dict[str, Family]:
    """Parse exposition text strictly: HELP and TYPE once per family and before its samples."""
    assert text.endswith("\n")
    families: dict[str, Family] = {}
    for line in text[:-1].split("\n"):
        if match := _HELP.fullmatch(line):
            assert match[1] not in families, f"family {match[1]} declared twice"
            families[match[1]] = Family(match[1], help=_unescape(match[2]))
        elif match := _TYPE.fullmatch(line):
            family = families[match[1]]
            assert not family.kind, f"TYPE of {match[1]} twice"
            assert not family.samples, f"TYPE of {match[1]} after its samples"
            family.kind = match[2]
        else:
            match = _SAMPLE.fullmatch(line)
            assert match, f"not a sample line: {line!r}"
            name = match[1]
            base = re.sub(r"_(bucket|sum|count)$", "", name)
            family = families.get(name) or families.get(base)
            assert family is not None, f"sample {name} before its HELP"
            assert family.kind, f"sample {name} before its TYPE"
            assert family is list(families.values())[-1], f"sample {name} outside its family"
            family.samples.append((name, _labels(match[2]), _number(match[3])))
    return families


def value(family: Family, name: str, **labels: str) -> float:
    [found] = [v for n, lbl, v in family.samples if n == name and lbl == labels]
    return found
