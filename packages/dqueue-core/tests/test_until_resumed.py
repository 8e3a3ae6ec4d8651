"""``dqueue pause QUEUE`` without an end shows "until resumed" in status, never the year 2126."""

from __future__ import annotations

from pathlib import Path

from dqueue import configure, get_settings, ops
from dqueue.status import render_status


def test_a_pause_without_an_end_is_shown_as_until_resumed(tmp_path: Path) -> None:
    configure(BACKEND="sqlite", SQLITE_PATH=str(tmp_path / "q.sqlite3"))
    settings = get_settings()
    paused = ops.pause(settings, "default")
    assert paused.indefinitely
    [row] = ops.queue_status(settings, ["default"])
    assert row.paused_indefinitely
    assert "until resumed" in render_status([row])
    assert str(paused.until.year) not in render_status([row])
    ops.pause(settings, "default", duration="1.5h")
    [row] = ops.queue_status(settings, ["default"])
    assert not row.paused_indefinitely
    assert "until resumed" not in render_status([row])
