"""A careless user of both command lines: every mistake is one line on stderr, never a traceback.

Each case runs ``python -m dqueue ...`` or the test project's ``manage.py queue_*`` as a real
process with one wrong input (a bad option, a bad setting in a file or the environment, a store
that can't be used) and checks: a non-zero exit, exactly one non-empty line on stderr that
names the problem, and no traceback anywhere. Django's own ``Unknown command`` adds its usage
hint line, which is the one other line allowed.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.django_project import harness

pytestmark = pytest.mark.slow

#: Runs the dqueue command as if dqueue-redis were not installed: no module, no entry points.
_WITHOUT_DQUEUE_REDIS = (
    "import sys, dqueue.loading as loading; sys.modules['dqueue_redis'] = None; "
    "every = loading.entry_points; loading.entry_points = lambda group: "
    "[e for e in every(group=group) if not e.value.startswith('dqueue_redis')]; "
    "from dqueue.cli import main; sys.exit(main())"
)
_DJANGO_USAGE_HINT = "Type 'manage.py help' for usage."

_needs_django = pytest.mark.skipif(
    importlib.util.find_spec("django") is None, reason="Django is not installed"
)


@dataclass(frozen=True)
class Mistake:
    """One wrong command line: ``{dir}`` in it stands for the test's folder."""

    argv: tuple[str, ...]
    words: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    #: The dqueue command run through ``python -c CODE`` instead of ``python -m dqueue``.
    code: str | None = None


def mistake(
    *argv: str, words: tuple[str, ...], env: dict[str, str] | None = None, code: str | None = None
) -> Mistake:
    return Mistake(argv=argv, words=words, env=env or {}, code=code)


_SQLITE = "dqueue.backends.sqlite.SQLiteBackend"
_REDIS = "dqueue.backends.redis.RedisBackend"
_WORK = "dqueue.demo_tasks.work"
_SYNCHRONOUS = {"DQUEUE_BACKEND": "synchronous"}
_ENQUEUE_WORK = ("--tasks", "dqueue.demo_tasks", "enqueue", _WORK)

DQUEUE_MISTAKES = {
    "unknown subcommand": mistake("frobnicate", words=("invalid choice", "frobnicate")),
    "unknown option": mistake("status", "--frob", words=("unrecognized arguments", "--frob")),
    "missing argument": mistake("pause", words=("required", "queue")),
    "machine 0": mistake("runner", "--machine", "0", "--of", "2", words=("--machine", "1 or more")),
    "machine not a number": mistake(
        "configuration", "--machine", "x", "--of", "2", words=("--machine", "whole number")
    ),
    "machine past of": mistake(
        "configuration", "--machine", "3", "--of", "2", words=("--machine", "between 1 and")
    ),
    "exact without config": mistake(
        "runner", "--exact-configuration", words=("--exact-configuration", "--config")
    ),
    "config missing": mistake(
        "--config", "missing.py", "status", words=("missing.py", "not exist")
    ),
    "config syntax error": mistake(
        "--config", "syntax.py", "status", words=("syntax.py", "SyntaxError")
    ),
    "config bad workers": mistake(
        "--config", "bad_workers.py", "status", words=("DQUEUE_WORKERS['q']", "-1")
    ),
    "env workers not json": mistake(
        "status",
        words=("DQUEUE_WORKERS", "environment variable", "not valid JSON"),
        env={"DQUEUE_WORKERS": "notjson"},
    ),
    "env partitions zero": mistake(
        "status",
        words=("DQUEUE_REDIS_PARTITIONS['mail']", "from 1 to 256", "not 0"),
        env={"DQUEUE_REDIS_PARTITIONS": '{"mail": 0}'},
    ),
    "unknown backend path": mistake(
        "status",
        words=("DQUEUE_BACKEND", "dqueue.backends.nope", "cannot be imported"),
        env={"DQUEUE_BACKEND": "dqueue.backends.nope.NopeBackend"},
    ),
    "backend package not installed": mistake(
        "status",
        words=("DQUEUE_BACKEND", "no installed plugin provides it", "install the distribution"),
        env={"DQUEUE_BACKEND": _REDIS},
        code=_WITHOUT_DQUEUE_REDIS,
    ),
    "broken task module": mistake(
        "--tasks", "broken_tasks", "status", words=("broken_tasks", "RuntimeError", "broke")
    ),
    "unknown task": mistake("enqueue", "nowhere.task", words=("nowhere.task", "not registered")),
    "args not json": mistake(*_ENQUEUE_WORK, "--args", "[1,", words=("--args", "JSON")),
    "args nested too deeply": mistake(
        *_ENQUEUE_WORK, "--args", "[" * 5000 + "]" * 5000, words=("--args", "nested too deeply")
    ),
    "args not a list": mistake(*_ENQUEUE_WORK, "--args", '{"n": 1}', words=("--args", "list")),
    "args do not fit the task": mistake(
        *_ENQUEUE_WORK, "--args", "[1, 2, 3, 4]", words=(_WORK, "too many positional")
    ),
    "negative delay": mistake(
        *_ENQUEUE_WORK, "--args", '[1, 2, "x"]', "--delay", "-5", words=("--delay", "0 or more")
    ),
    "pause for negative": mistake(
        "pause", "default", "--for", "-1", words=("--for", "more than 0")
    ),
    "pause until past": mistake(
        "pause", "default", "--until", "2001-01-01T00:00:00+00:00", words=("--until", "past")
    ),
    "pause until naive": mistake(
        "pause", "default", "--until", "2099-01-01T00:00:00", words=("--until", "time zone")
    ),
    "pause until unparseable": mistake(
        "pause", "default", "--until", "tomorrow", words=("--until", "ISO 8601")
    ),
    "dead retry unknown ids": mistake(
        "dead", "retry", "default", "nope-1", "nope-2", words=("no dead letter", "nope-1, nope-2")
    ),
    "clear unknown queue": mistake("clear", "nosuch", "--yes", words=("unknown queue", "nosuch")),
    "worker async concurrency 0": mistake(
        "worker", "default", "--async-concurrency", "0", words=("--async-concurrency", "1 or more")
    ),
    "env async concurrency 0": mistake(
        "status",
        words=("DQUEUE_ASYNC_CONCURRENCY", "1 or more"),
        env={"DQUEUE_ASYNC_CONCURRENCY": "0"},
    ),
    "workers unknown queue": mistake("workers", "nosuch", words=("unknown queue", "nosuch")),
    "workers unknown option": mistake(
        "workers", "--limit", "3", words=("unrecognized arguments", "--limit")
    ),
    "workers of a store that keeps none": mistake(
        "workers",
        words=("SynchronousBackend", "no record of live workers"),
        env=_SYNCHRONOUS,
    ),
    "workers in a sqlite file of another application": mistake(
        "workers",
        words=("DQUEUE_SQLITE_PATH", "not a dqueue database"),
        env={"DQUEUE_SQLITE_PATH": "{dir}/other.sqlite3"},
    ),
    "jobs of an unknown queue": mistake("jobs", "nosuch", words=("unknown queue", "nosuch")),
    "jobs in an unknown state": mistake(
        "jobs", "default", "--state", "running", words=("--state", "not a job state", "in-flight")
    ),
    "jobs with a cursor it never gave": mistake(
        "jobs", "default", "--cursor", "page-2", words=("cursor", "previous page")
    ),
    "jobs limit 0": mistake("jobs", "default", "--limit", "0", words=("--limit", "1 or more")),
    "job unknown id": mistake("job", "nope-1", words=("no job", "nope-1")),
    "cancel unknown ids": mistake(
        "cancel", "nope-1", "nope-2", words=("2 of 2 not cancelled", "nope-1 (no such job)")
    ),
    "cancel without ids": mistake("cancel", words=("required", "ID")),
    "run-now unknown id": mistake("run-now", "nope-1", words=("not rescheduled", "nope-1")),
    "run-now in a bad duration": mistake(
        "run-now", "nope-1", "--in", "soon", words=("--in", "not a duration")
    ),
    "run-now at a past time": mistake(
        "run-now", "nope-1", "--at", "2001-01-01T00:00:00+00:00", words=("--at", "past")
    ),
    "run-now in and at": mistake(
        "run-now", "x", "--in", "1h", "--at", "2099-01-01T00:00:00+00:00", words=("not allowed",)
    ),
    "jobs of a store without single jobs": mistake(
        "jobs", "default", words=("cannot list or change single jobs",), env=_SYNCHRONOUS
    ),
    "job of a store without single jobs": mistake(
        "job", "x", words=("cannot list or change single jobs",), env=_SYNCHRONOUS
    ),
    "sqlite in a missing directory": mistake(
        "status",
        words=("DQUEUE_SQLITE_PATH", "does not exist"),
        env={"DQUEUE_SQLITE_PATH": "{dir}/missing/queue.sqlite3"},
    ),
    "sqlite file that can't be written": mistake(
        "status",
        words=("DQUEUE_SQLITE_PATH", "cannot be opened"),
        env={"DQUEUE_SQLITE_PATH": "/proc/version"},
    ),
    "sqlite file of another application": mistake(
        "status",
        words=("DQUEUE_SQLITE_PATH", "not a dqueue database"),
        env={"DQUEUE_SQLITE_PATH": "{dir}/other.sqlite3"},
    ),
    "redis on a closed port": mistake(
        "status",
        words=("redis://127.0.0.1:1", "unreachable"),
        env={"DQUEUE_BACKEND": _REDIS, "DQUEUE_REDIS_URL": "redis://127.0.0.1:1"},
    ),
    "redis that never answers": mistake(
        "status",
        words=("{silent_url}", "unreachable"),
        env={
            "DQUEUE_BACKEND": _REDIS,
            "DQUEUE_REDIS_URL": "{silent_url}",
            "DQUEUE_REDIS_SOCKET_TIMEOUT": "1",
        },
    ),
}

_DJANGO_REDIS = {"DQTEST_BACKEND": "redis", "DQTEST_REDIS_URL": "redis://127.0.0.1:1"}

DJANGO_MISTAKES = {
    "unknown command": mistake("queue_frob", words=("Unknown command", "queue_frob")),
    "unknown option": mistake("queue_status", "--frob", words=("unrecognized arguments", "--frob")),
    "machine 0": mistake(
        "queue_runner", "--machine", "0", "--of", "2", words=("--machine", "1 or more")
    ),
    "exact without config": mistake(
        "queue_runner", "--exact-configuration", words=("--exact-configuration", "--config")
    ),
    "config bad workers": mistake(
        "queue_configuration",
        "--config",
        "{dir}/bad_workers.py",
        words=("DQUEUE_WORKERS['q']", "-1"),
    ),
    "env prefetch not a number": mistake(
        "queue_status", words=("DQUEUE_PREFETCH", "integer"), env={"DQUEUE_PREFETCH": "abc"}
    ),
    "pause for negative": mistake("queue_pause", "default", "--for", "-1", words=("duration",)),
    "dead retry unknown ids": mistake(
        "queue_dead", "retry", "default", "nope-1", words=("no dead letter", "nope-1")
    ),
    "clear unknown queue": mistake(
        "queue_clear", "nosuch", "--yes", words=("unknown queue", "nosuch")
    ),
    "worker async concurrency 0": mistake(
        "queue_worker",
        "default",
        "--async-concurrency",
        "0",
        words=("--async-concurrency", "1 or more"),
    ),
    "workers unknown queue": mistake("queue_workers", "nosuch", words=("unknown queue", "nosuch")),
    "workers unknown option": mistake(
        "queue_workers", "--limit", "3", words=("unrecognized arguments", "--limit")
    ),
    "jobs in an unknown state": mistake(
        "queue_jobs", "default", "--state", "running", words=("--state", "not a job state")
    ),
    "jobs with a cursor it never gave": mistake(
        "queue_jobs", "default", "--cursor", "page-2", words=("cursor", "previous page")
    ),
    "job unknown id": mistake("queue_job", "nope-1", words=("no job", "nope-1")),
    "cancel unknown id": mistake(
        "queue_cancel", "nope-1", words=("not cancelled", "nope-1 (no such job)")
    ),
    "run-now in a bad duration": mistake(
        "queue_run_now", "nope-1", "--in", "soon", words=("--in", "not a duration")
    ),
    "sqlite file of another application": mistake(
        "queue_status",
        words=("DQUEUE_SQLITE_PATH", "not a dqueue database"),
        env={"DQTEST_QUEUE_DB": "{dir}/other.sqlite3"},
    ),
    "redis on a closed port": mistake(
        "queue_pause", "default", "--for", "5", words=("unreachable",), env=_DJANGO_REDIS
    ),
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """The user's folder: config files good and bad, a task module that breaks, a foreign DB."""
    (tmp_path / "syntax.py").write_text("WORKERS = {\n")
    (tmp_path / "bad_workers.py").write_text('WORKERS = {"q": -1}\n')
    (tmp_path / "broken_tasks.py").write_text('raise RuntimeError("this module broke")\n')
    with sqlite3.connect(tmp_path / "other.sqlite3") as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY)")
    conn.close()
    return tmp_path


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A port that takes connections and never answers (a hung server, a black-holing proxy)."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)  # never accepted: the kernel completes the handshake, nobody replies
    try:
        yield f"redis://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        listener.close()


def _filled(text: str, folder: Path, silent_url: str) -> str:
    return text.replace("{dir}", str(folder)).replace("{silent_url}", silent_url)


def _clean_environment(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("DQUEUE_")}
    env.update(extra)
    return env


def assert_one_clear_line(
    result: subprocess.CompletedProcess[str], words: tuple[str, ...], *, allowed: str = ""
) -> None:
    """Non-zero exit, one non-empty stderr line (plus ``allowed``) with every word, no traceback."""
    shown = f"exit {result.returncode}\nstderr:\n{result.stderr}\nstdout:\n{result.stdout}"
    assert result.returncode != 0, shown
    assert "Traceback" not in result.stderr + result.stdout, shown
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    if allowed and lines and lines[-1] == allowed:
        lines = lines[:-1]
    assert len(lines) == 1, shown
    for word in words:
        assert word in lines[0], shown


@pytest.mark.parametrize("name", sorted(DQUEUE_MISTAKES))
def test_a_dqueue_command_mistake_is_one_clear_line(
    name: str, folder: Path, silent_url: str
) -> None:
    case = DQUEUE_MISTAKES[name]
    if "redis" in name:
        pytest.importorskip("dqueue_redis")
    if "/proc/" in case.env.get("DQUEUE_SQLITE_PATH", "") and not Path("/proc").is_dir():
        pytest.skip("needs Linux's /proc")
    env = _clean_environment(
        DQUEUE_BACKEND=_SQLITE, DQUEUE_SQLITE_PATH=str(folder / "queue.sqlite3")
    )
    env.update({key: _filled(value, folder, silent_url) for key, value in case.env.items()})
    head = ["-c", case.code] if case.code else ["-m", "dqueue"]
    argv = [_filled(arg, folder, silent_url) for arg in case.argv]

    result = subprocess.run(
        [sys.executable, *head, *argv],
        env=env,
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    words = tuple(_filled(word, folder, silent_url) for word in case.words)
    assert_one_clear_line(result, words)


@_needs_django
@pytest.mark.django
@pytest.mark.parametrize("name", sorted(DJANGO_MISTAKES))
def test_a_manage_py_queue_command_mistake_is_one_clear_line(
    name: str, folder: Path, silent_url: str
) -> None:
    case = DJANGO_MISTAKES[name]
    if "redis" in name:
        pytest.importorskip("dqueue_redis")
    env = harness.project_env(
        DQTEST_DB=str(folder / "django.sqlite3"),
        DQTEST_BACKEND="sqlite",
        DQTEST_QUEUE_DB=str(folder / "queue.sqlite3"),
    )
    for leftover in ("DQTEST_WORKERS", "DQTEST_CRON", "DQTEST_REDIS_URL", "DQTEST_REDIS_PREFIX"):
        env.pop(leftover, None)
    env.update({key: _filled(value, folder, silent_url) for key, value in case.env.items()})
    argv = [_filled(arg, folder, silent_url) for arg in case.argv]

    result = harness.manage(*argv, env=env, timeout=60)

    assert_one_clear_line(result, case.words, allowed=_DJANGO_USAGE_HINT)
