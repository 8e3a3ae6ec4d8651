"""DQUEUE_LOG_FORMAT=json: one JSON object per line, the run's facts as keys."""

from __future__ import annotations

import json
import logging
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

from dqueue.cli import main
from dqueue.logs import JsonFormatter

MODULE = "dqueue_log_format_tasks"


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The command configures the ``dqueue`` logger: leave it as it was for later tests."""
    logger = logging.getLogger("dqueue")
    handlers, level = list(logger.handlers), logger.level
    yield
    logger.handlers[:] = handlers
    logger.setLevel(level)


@pytest.fixture
def json_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / f"{MODULE}.py").write_text(
        textwrap.dedent(
            """
            from dqueue import task

            @task(queue="mail")
            def send(to):
                return to

            @task(queue="mail", max_attempts=1)
            def explode():
                raise RuntimeError("kaboom\\x1b[31m")
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DQUEUE_BACKEND", "sqlite")
    monkeypatch.setenv("DQUEUE_SQLITE_PATH", str(tmp_path / "queue.sqlite3"))
    monkeypatch.setenv("DQUEUE_TASKS", MODULE)
    monkeypatch.setenv("DQUEUE_MIDDLEWARE", "[]")
    monkeypatch.setenv("DQUEUE_LOG_FORMAT", "json")


def test_the_worker_command_logs_one_json_object_per_line(
    json_settings: None, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["enqueue", f"{MODULE}.send", "--args", '["ann"]']) == 0
    job_id = capsys.readouterr().out.strip()
    assert main(["worker", "mail", "--burst"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    [done] = [line for line in lines if line.get("outcome") == "ack"]
    assert (done["task"], done["job_id"], done["queue"]) == (f"{MODULE}.send", job_id, "mail")
    assert (done["level"], done["logger"]) == ("INFO", "dqueue.jobs")
    assert {"time", "message", "duration_s", "lateness_s", "attempt", "pid"} <= done.keys()


def test_a_failure_is_one_json_line_with_its_traceback_and_no_raw_control_characters(
    json_settings: None, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["enqueue", f"{MODULE}.explode"])
    main(["worker", "mail", "--burst"])
    err = capsys.readouterr().err
    assert "\x1b" not in err
    [failed] = [json.loads(line) for line in err.splitlines() if '"outcome": "dead"' in line]
    assert failed["level"] == "WARNING"
    assert failed["exception"] == "builtins.RuntimeError"
    assert "dead-lettered after 1 attempt" in failed["message"]
    assert failed["traceback"].startswith("Traceback")
    assert "in explode" in failed["traceback"]


def test_a_records_extra_attributes_are_keys_of_its_json_object() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord(
            "dqueue.x", logging.ERROR, __file__, 1, "a %s", ("line\nbreak",), sys.exc_info()
        )
    record.order_id = 7
    line = JsonFormatter().format(record)
    assert "\n" not in line
    data = json.loads(line)
    assert (data["message"], data["order_id"], data["level"]) == ("a line\nbreak", 7, "ERROR")
    assert "ValueError: bad" in data["traceback"]
