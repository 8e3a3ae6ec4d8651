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


@pytest.mark.slow
def test_demo_prints_progress_lines_when_not_on_a_terminal(tmp_path: Path) -> None:
    out = io.StringIO()
    run_demo(jobs=50, workers=1, max_delay_s=0.2, path=str(tmp_path / "demo.sqlite3"), out=out)
    progress = [line for line in out.getvalue().splitlines() if line.startswith("done ")]
    assert progress
    assert progress[-1].startswith("done 45/50")
