"""Single jobs seen and changed as a user does it: ``dqueue jobs``/``job``/``cancel``/``run-now``
and their ``manage.py queue_*`` twins, each a real process on one SQLite file."""

from __future__ import annotations

import importlib.util
import json
import os
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from dqueue.backends import load_backend
from dqueue.job import Job, new_job_id
from dqueue.settings import Settings
from tests.django_project import harness

pytestmark = pytest.mark.slow

_WORK = "dqueue.demo_tasks.work"


def _run(
    argv: list[str], env: dict[str, str], *, cwd: Path | None = None, ok: bool = True
) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )
    shown = f"{argv[2:]}: exit {result.returncode}\nstderr:\n{result.stderr[-3000:]}"
    assert (result.returncode == 0) is ok, shown
    assert "Traceback" not in result.stdout + result.stderr, shown
    return result


#: Runs ``python -m dqueue ARGV`` (``ok=False``: expecting it to fail).
Dqueue = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def sqlite_path(tmp_path: Path) -> Path:
    return tmp_path / "q.sqlite3"


@pytest.fixture
def dqueue(tmp_path: Path, sqlite_path: Path) -> Dqueue:
    """``dqueue(*argv)``: run ``python -m dqueue`` on the test's SQLite file."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DQUEUE_")}
    env |= {"DQUEUE_BACKEND": "sqlite", "DQUEUE_SQLITE_PATH": str(sqlite_path)}

    def dqueue(*argv: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        return _run([sys.executable, "-m", "dqueue", *argv], env, cwd=tmp_path, ok=ok)

    return dqueue


@pytest.fixture
def delayed(sqlite_path: Path) -> list[str]:
    """Three jobs of queue ``demo``, due in one, two and three hours (stored in this process)."""
    backend = load_backend("sqlite", Settings(BACKEND="sqlite", SQLITE_PATH=str(sqlite_path)))
    now = time.time()
    jobs = [
        Job(
            id=new_job_id(),
            task=_WORK,
            queue="demo",
            args=(hours, 0, "/dev/null"),
            enqueued_at=now,
            run_after=now + 3600 * hours,
        )
        for hours in (1, 2, 3)
    ]
    backend.enqueue_many(jobs)
    backend.close()
    return [job.id for job in jobs]


def test_delayed_jobs_are_paged_through_by_following_the_printed_command(
    dqueue: Dqueue, delayed: list[str]
) -> None:
    first = dqueue("jobs", "demo", "--state", "delayed", "--limit", "2").stdout.splitlines()
    hint = first[-1]
    assert hint.startswith("More: dqueue jobs demo --state delayed --limit 2 --cursor ")
    rest = dqueue(*shlex.split(hint.removeprefix("More: dqueue ")))

    listed = [line.split()[0] for line in first[2:4]] + [rest.stdout.splitlines()[2].split()[0]]
    assert listed == delayed
    assert "More:" not in rest.stdout


def test_a_job_is_shown_run_now_rescheduled_and_cancelled(
    dqueue: Dqueue, delayed: list[str]
) -> None:
    first, second, third = delayed

    shown = json.loads(dqueue("job", first, "--json").stdout)
    assert (shown["state"], shown["task"]) == ("delayed", _WORK)
    assert shown["args"] == [1, 0, "/dev/null"]

    assert dqueue("run-now", first).stdout.strip() == "Made 1 job(s) due now."
    assert dqueue("run-now", second, "--in", "2h").stdout.startswith("Made 1 job(s) due at ")
    assert dqueue("cancel", third).stdout.strip() == "Cancelled 1 job(s)."

    ready = json.loads(dqueue("jobs", "demo", "--json").stdout)
    later = json.loads(dqueue("jobs", "demo", "--state", "delayed", "--json").stdout)
    assert [job["id"] for job in ready["jobs"]] == [first]
    assert [job["id"] for job in later["jobs"]] == [second]
    gone = dqueue("job", third, ok=False)
    assert gone.stderr.strip() == (
        f"dqueue: error: no job with the id {third!r} is stored "
        "(a finished job is kept only while its result is)"
    )


@pytest.mark.django
@pytest.mark.skipif(importlib.util.find_spec("django") is None, reason="Django is not installed")
def test_manage_py_twins_list_show_reschedule_and_cancel_jobs(tmp_path: Path) -> None:
    env = harness.project_env(
        DQTEST_DB=str(tmp_path / "django.sqlite3"),
        DQTEST_BACKEND="sqlite",
        DQTEST_QUEUE_DB=str(tmp_path / "queue.sqlite3"),
    )
    manage = [sys.executable, str(harness.MANAGE_PY)]
    code = (
        "from dqtest_shop.tasks import record; "
        "print(record.enqueue_in(3600, 'a').id); print(record.enqueue_in(7200, 'b').id)"
    )
    # Django 5.2+ shell says first how many objects it imported.
    sooner, later = _run([*manage, "shell", "-c", code], env).stdout.split()[-2:]

    def command(*argv: str, ok: bool = True) -> str:
        return _run([*manage, *argv], env, cwd=harness.PROJECT_DIR, ok=ok).stdout

    table = command("queue_jobs", "default", "--state", "delayed")
    assert [line.split()[0] for line in table.splitlines()[2:]] == [sooner, later]
    assert 'args:        ["a"]' in command("queue_job", sooner)
    assert command("queue_run_now", later).strip() == "Made 1 job(s) due now."
    assert command("queue_cancel", sooner).strip() == "Cancelled 1 job(s)."
    ready = json.loads(command("queue_jobs", "default", "--json"))
    assert [job["id"] for job in ready["jobs"]] == [later]
