"""``dqueue status --watch`` and the progress of long operations (dead retry/purge --all)."""

from __future__ import annotations

import argparse
import json
import os
import pty
import re
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC
from pathlib import Path

import pytest

from dqueue.cli import control
from dqueue.cli.control import Front
from dqueue.cli.watch import CLEAR_SCREEN, watch
from dqueue.errors import BackendUnavailable
from dqueue.ops import actions
from dqueue.settings import get_settings
from dqueue.testing import wait_for

from .test_cli import TASKS_MODULE, one_error_line, run, sqlite, stored, tasks_dir  # noqa: F401

NOON = 1_764_763_200.0  # 2025-12-03 12:00:00 UTC


class Frames:
    """A fake ``sleep`` that records each wait and presses Ctrl-C after ``frames`` of them."""

    def __init__(self, frames: int) -> None:
        self.frames = frames
        self.waits: list[float] = []
        self.shown: list[str] = []

    def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        if len(self.waits) >= self.frames:
            raise KeyboardInterrupt

    def run(
        self,
        render: Callable[[], str],
        *,
        terminal: bool,
        interval_s: float = 2.0,
        json_lines: bool = False,
    ) -> int:
        return watch(
            render,
            interval_s=interval_s,
            write=self.shown.append,
            terminal=terminal,
            json_lines=json_lines,
            tz=UTC,
            sleep=self.sleep,
            clock=lambda: NOON + len(self.waits),
        )


def test_watch_on_a_terminal_redraws_each_frame_in_place_under_the_time_and_how_to_stop() -> None:
    frames = Frames(3)
    bodies = iter(["one", "two", "three"])

    status = frames.run(lambda: next(bodies), terminal=True)

    assert status == 0
    assert len(frames.shown) == 3
    for number, (frame, body) in enumerate(zip(frames.shown, ["one", "two", "three"], strict=True)):
        assert frame.startswith(CLEAR_SCREEN)
        header, blank, shown = frame.removeprefix(CLEAR_SCREEN).split("\n")
        assert header == f"2025-12-03 12:00:0{number} UTC, every 2 s (Ctrl-C to stop)"
        assert (blank, shown) == ("", body)
    assert frames.waits == [2.0, 2.0, 2.0]


def test_watch_elsewhere_prints_snapshots_separated_by_a_blank_line() -> None:
    frames = Frames(2)

    frames.run(lambda: "table", terminal=False)

    first, second = frames.shown
    assert CLEAR_SCREEN not in first + second
    assert "Ctrl-C" not in first + second
    assert first.endswith(", every 2 s\n\ntable")
    assert second.startswith("\n")
    assert second.endswith(", every 2 s\n\ntable")


def test_watch_of_json_elsewhere_writes_one_document_a_line_errors_included() -> None:
    frames = Frames(3)
    answers: list[str | Exception] = ['[{"queue": "mail"}]', OSError("refused"), "[]"]

    def render() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    frames.run(render, terminal=False, json_lines=True, interval_s=1.0)

    assert [json.loads(line) for line in frames.shown] == [
        {"at": "2025-12-03T12:00:00+00:00", "status": [{"queue": "mail"}]},
        {"at": "2025-12-03T12:00:01+00:00", "error": "refused", "retry_in_s": 1.0},
        {"at": "2025-12-03T12:00:02+00:00", "status": []},
    ]
    assert all("\n" not in line for line in frames.shown)


def test_watch_shows_a_store_that_went_away_and_tries_again_less_often_until_it_answers() -> None:
    frames = Frames(5)
    answers: list[str | Exception] = [
        "up",
        BackendUnavailable("connection refused"),
        BackendUnavailable("connection refused"),
        "back",
        "up",
    ]

    def render() -> str:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert frames.run(render, terminal=True, interval_s=1.0) == 0

    assert frames.shown[1].endswith("error: connection refused\n(trying again in 1 s)")
    assert frames.shown[2].endswith("error: connection refused\n(trying again in 2 s)")
    assert frames.shown[3].endswith("back")
    assert frames.waits == [1.0, 1.0, 2.0, 1.0, 1.0]


def test_watch_ends_quietly_with_status_0_on_ctrl_c_while_a_frame_is_read() -> None:
    def interrupted() -> str:
        raise KeyboardInterrupt

    assert Frames(9).run(interrupted, terminal=True) == 0


# -- the commands ----------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["soon", "0", "-5", "1h1x"])
def test_status_refuses_an_interval_it_cannot_read_in_one_line(
    sqlite: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    value: str,
) -> None:
    code, out, err = run(capsys, "status", "--watch", "--interval", value)

    assert code == 2
    assert "argument --interval: " in one_error_line(err)
    assert out == ""


def _environment(path: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DQUEUE_")}
    env.update(DQUEUE_BACKEND="sqlite", DQUEUE_SQLITE_PATH=str(path), PYTHONUNBUFFERED="1")
    return env


def test_status_watch_into_a_file_appends_snapshots_and_stops_on_ctrl_c_with_status_0(
    tmp_path: Path,
) -> None:
    log = tmp_path / "watch.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "dqueue", "status", "--watch", "--interval", "0.1"],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env=_environment(tmp_path / "queue.sqlite3"),
        )
        try:
            wait_for(lambda: log.read_text().count("every 0.1 s\n\nqueue ") >= 2)
        finally:
            process.send_signal(signal.SIGINT)
            _, err = process.communicate(timeout=60)

    assert process.returncode == 0
    assert err == ""
    text = log.read_text()
    snapshots = re.split(r"\n\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d )", text)
    assert len(snapshots) >= 2
    assert all(snapshot.split("\n")[2].startswith("queue ") for snapshot in snapshots)
    assert CLEAR_SCREEN not in text


def test_status_watch_json_into_a_pipe_is_one_status_document_a_line(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "dqueue", "status", "--json", "--interval", "0.1"]
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_environment(tmp_path / "queue.sqlite3"),
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
    finally:
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)

    assert process.returncode == 0
    assert err == ""
    for line in lines:
        frame = json.loads(line)
        assert sorted(frame) == ["at", "status"]
        assert [row["queue"] for row in frame["status"]] == ["default"]


def test_status_watch_on_a_terminal_redraws_and_stops_on_ctrl_c_without_a_traceback(
    tmp_path: Path,
) -> None:
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "dqueue", "status", "--interval", "0.1"],
        stdin=terminal,
        stdout=terminal,
        stderr=terminal,
        env=_environment(tmp_path / "queue.sqlite3"),
    )
    os.close(terminal)
    seen = bytearray()

    def redrawn_twice() -> bool:
        seen.extend(os.read(controller, 65536))
        return seen.count(CLEAR_SCREEN.encode()) >= 2

    try:
        wait_for(redrawn_twice)
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=60) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(10)
    try:
        while chunk := os.read(controller, 65536):
            seen.extend(chunk)
    except OSError:  # the terminal is closed once the process has ended
        pass
    os.close(controller)
    text = seen.decode()
    assert "(Ctrl-C to stop)" in text
    assert "Traceback" not in text
    assert "error" not in text


# -- progress ---------------------------------------------------------------------------------


def _dead_letters(capsys: pytest.CaptureFixture[str], count: int) -> None:
    for _ in range(count):
        run(capsys, "enqueue", f"{TASKS_MODULE}.explode")
    assert run(capsys, "worker", "mail", "--burst")[0] == 0
    assert stored("mail").dead == count


def _dead(action: str, *, shown: list[str], progress: list[str] | None) -> int:
    args = argparse.Namespace(queue="mail", dead_command=action, ids=[], all=True, yes=True)
    front = Front(settings=get_settings(), write=shown.append, progress=_writer(progress))
    return control.dead(args, front)


def _writer(lines: list[str] | None) -> Callable[[str], object] | None:
    return None if lines is None else lines.append


@pytest.mark.parametrize(("action", "verb"), [("retry", "retried"), ("purge", "purged")])
def test_dead_letters_of_a_whole_queue_go_in_batches_with_progress_on_a_terminal(
    sqlite: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    action: str,
    verb: str,
) -> None:
    _dead_letters(capsys, 5)
    monkeypatch.setattr(actions, "BATCH", 2)
    shown: list[str] = []
    progress: list[str] = []

    assert _dead(action, shown=shown, progress=progress) == 0

    assert [line.removeprefix("\r\x1b[K") for line in progress] == [
        f"{verb} 2 of 5 dead letters",
        f"{verb} 4 of 5 dead letters",
        f"{verb} 5 of 5 dead letters",
        "",
    ]
    summary = "Requeued" if action == "retry" else "Purged"
    assert shown == [f"{summary} 5 dead letter(s) of queue mail."]
    assert stored("mail").dead == 0


def test_clear_goes_in_batches_with_progress_on_a_terminal_then_prints_its_summary(
    sqlite: Path,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("ann", "bob", "cy", "di", "ed"):
        run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", f'["{name}"]')
    run(capsys, "enqueue", f"{TASKS_MODULE}.send", "--args", '["fay"]', "--delay", "3600")
    monkeypatch.setattr(actions, "BATCH", 4)
    shown: list[str] = []
    progress: list[str] = []
    front = Front(settings=get_settings(), write=shown.append, progress=progress.append)

    assert control.clear(argparse.Namespace(queue="mail", yes=True), front) == 0

    assert [line.removeprefix("\r\x1b[K") for line in progress] == [
        "clearing queue mail...",
        "cleared 4 of 6 waiting jobs of queue mail",
        "cleared 6 of 6 waiting jobs of queue mail",
        "",
    ]
    assert shown == ["Cleared 6 waiting job(s) from queue mail."]
    assert stored("mail").total == 0
