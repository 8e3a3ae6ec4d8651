"""Running dqueue-django's test project: in this process, and as ``manage.py`` subprocesses.

The Django database is an SQLite file in a temporary folder, migrated once per test session
and shared by the test process and every ``manage.py`` it starts (``DQTEST_DB``). Each test
gets a fresh queue store (its own SQLite file, or Redis key prefix) through the environment of
the subprocesses and ``override_settings`` in this process.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent
MANAGE_PY = PROJECT_DIR / "manage.py"
SETTINGS_MODULE = "dqtest_site.settings"

_workdir: Path | None = None


def ensure_django() -> Path:
    """Set up Django for the test project (once per process); return the session folder."""
    global _workdir
    if _workdir is not None:
        return _workdir
    import django
    from django.conf import settings

    if settings.configured and os.environ.get("DJANGO_SETTINGS_MODULE") != SETTINGS_MODULE:
        raise RuntimeError("another Django project is configured in this test process")
    _workdir = Path(tempfile.mkdtemp(prefix="dqueue-django-tests-"))
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    os.environ["DJANGO_SETTINGS_MODULE"] = SETTINGS_MODULE
    os.environ["DQTEST_DB"] = str(_workdir / "django.sqlite3")
    os.environ["DQTEST_DB_OTHER"] = str(_workdir / "other.sqlite3")
    os.environ["DQTEST_QUEUE_DB"] = str(_workdir / "queue.sqlite3")
    os.environ.setdefault("DQTEST_BACKEND", "sqlite")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    # Django stays set up for the session, but dqueue's hooks are only on inside
    # dqueue_django_state(): the other packages' tests in this process see plain dqueue.
    from dqueue.settings import reset_settings
    from dqueue_django.apps import uninstall

    uninstall()
    reset_settings()
    return _workdir


@contextlib.contextmanager
def dqueue_django_state() -> Iterator[None]:
    """Each test: dqueue's settings rebuilt from Django's, no cached backend, no rows."""
    from dqtest_shop.models import Record

    from dqueue.backends import close_backends
    from dqueue.settings import reset_settings
    from dqueue_django.apps import install, uninstall

    reset_settings()
    close_backends()
    install()
    Record.objects.all().delete()
    try:
        yield
    finally:
        uninstall()
        reset_settings()
        close_backends()
        Record.objects.all().delete()
        from django.db import connections

        connections.close_all()


def project_env(**overrides: str) -> dict[str, str]:
    """The environment of a ``manage.py`` subprocess: this process's, plus ``overrides``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("DQUEUE_")}
    env.update(overrides)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PROJECT_DIR), *[p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]]
    )
    env["PYTHONUNBUFFERED"] = "1"
    return env


def manage(
    *args: str, env: Mapping[str, str] | None = None, timeout: float = 120, stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    """Run ``python manage.py ARGS`` to completion; its output is captured as text."""
    return subprocess.run(
        [sys.executable, str(MANAGE_PY), *args],
        env=dict(env) if env is not None else project_env(),
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=timeout,
        input=stdin,
        check=False,
    )


@contextlib.contextmanager
def running(*args: str, env: Mapping[str, str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python manage.py ARGS`` in the background for the block; stop it after.

    Its output goes to ``log`` (:func:`tail` shows its end when a wait fails).
    """
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, str(MANAGE_PY), *args],
            env=dict(env),
            cwd=PROJECT_DIR,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], timeout: float = 30) -> int:
    """SIGTERM ``process`` and wait; SIGKILL its whole group if it does not stop in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)
    return process.returncode


def tail(log: Path, chars: int = 4000) -> Callable[[], str]:
    """For ``wait_for(..., explain=tail(log))``: the end of a process's log, read on failure."""

    def read() -> str:
        return log.read_text(errors="replace")[-chars:] if log.exists() else f"(no {log})"

    return read
