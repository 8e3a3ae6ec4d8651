"""Scraping dqueue's metrics endpoints in process tests: sample sums."""

from __future__ import annotations

import re

_SAMPLE = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def total(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels``."""
    found = 0.0
    for line in text.splitlines():
        match = _SAMPLE.fullmatch(line)
        if line.startswith("#") or match is None or match[1] != name:
            continue
        have = dict(_LABEL.findall(match[2] or ""))
        if all(have.get(key) == wanted for key, wanted in labels.items()):
            found += float(match[3])
    return found
