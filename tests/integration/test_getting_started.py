"""The getting-started guides run as written: their files, their commands, their results.

Each guide of ``docs/`` is run by :mod:`tests.support.doc_snippets` in an empty folder with the
environment under test (see that module for the markers a guide uses); its runner is stopped
with SIGTERM at the end and must exit cleanly.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from tests.support.doc_snippets import blocks_of, run_guide

pytestmark = pytest.mark.slow

_DOCS = Path(__file__).resolve().parents[2] / "docs"


def test_every_block_of_a_guide_is_run_or_says_why_not() -> None:
    """A block that is neither a command nor a file of the guide would go untested: say why."""
    for guide in ("getting-started-script.md", "getting-started-django.md"):
        for block in blocks_of((_DOCS / guide).read_text()):
            tested = block.language == "console" or {"write", "append"} & block.markers.keys()
            reason = block.markers.get("not-run")
            assert tested or reason, f"{guide} line {block.line}: not run, and no reason given"
            assert reason is None or reason.strip(), f"{guide} line {block.line}: say why"


def test_the_plain_script_guide_runs_as_written(tmp_path: Path) -> None:
    guide = run_guide(_DOCS / "getting-started-script.md", tmp_path)
    assert guide.stop() == [0], guide.log_of_background()
    assert (tmp_path / "jobs.sqlite3").exists()


@pytest.mark.skipif(importlib.util.find_spec("django") is None, reason="Django is not installed")
def test_the_django_guide_runs_as_written(tmp_path: Path) -> None:
    guide = run_guide(_DOCS / "getting-started-django.md", tmp_path)
    assert guide.stop() == [0], guide.log_of_background()
