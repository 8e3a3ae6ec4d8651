from __future__ import annotations

import io
from pathlib import Path

import pytest

from dqueue.demo import run_demo


@pytest.mark.slow
def test_demo_accounts_for_every_job_and_reports_the_numbers(tmp_path: Path) -> None:
    out = io.StringIO()
    code = run_demo(
        jobs=300, workers=2, max_delay_s=0.5, path=str(tmp_path / "demo.sqlite3"), out=out
    )
    report = out.getvalue()
    assert code == 0, report
    assert "result            every job is accounted for" in report
    assert "dead letters      5 (expected 5)" in report
    assert "jobs done         295 succeeded, 0 ran twice" in report
    for label in ("throughput", "lateness", "failures retried"):
        assert label in report
    config = tmp_path / "demo_settings.py"
    assert f"store             kept: its settings are in {config}" in report
    assert f"next              dqueue --config {config} status demo" in report


@pytest.mark.slow
def test_demo_on_a_temporary_file_says_it_was_deleted_and_how_to_keep_one() -> None:
    out = io.StringIO()
    assert run_demo(jobs=20, workers=1, max_delay_s=0.1, out=out) == 0, out.getvalue()
    assert "store             deleted with its temporary folder" in out.getvalue()
    assert "next              dqueue demo --path demo.sqlite3" in out.getvalue()


@pytest.mark.slow
def test_demo_prints_progress_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    run_demo(jobs=50, workers=1, max_delay_s=0.2, path=str(tmp_path / "demo.sqlite3"), out=out)
    progress = [line for line in out.getvalue().splitlines() if line.startswith("finished ")]
    assert progress
    # The last line adds up: the five dead letters count as finished.
    assert progress[-1].startswith("finished 50/50 (succeeded 45, dead 5)  ready 0  delayed 0")
