"""DQUEUE_* settings in a Django project that lacks dqueue_django are not read: said at enqueue."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_SCRIPT = """
import logging
import sys

import django
from django.conf import settings

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(message)s", stream=sys.stdout)
apps = sys.argv[1:]
settings.configure(INSTALLED_APPS=apps, DQUEUE_BACKEND="memory", DQUEUE_WORKERS={"default": 1})
django.setup()

from dqueue import task


@task
def hello():
    print("ran inline")


hello()
hello()
"""


def _run(tmp_path: Path, *apps: str) -> str:
    script = tmp_path / "script.py"
    script.write_text(_SCRIPT)
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("DQUEUE_") and name != "DJANGO_SETTINGS_MODULE"
    }
    done = subprocess.run(
        [sys.executable, str(script), *apps],
        cwd=tmp_path,
        env=environment,
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout


def test_dqueue_settings_without_the_app_installed_are_a_warning_at_the_first_enqueue(
    tmp_path: Path,
) -> None:
    out = _run(tmp_path)
    warnings = [line for line in out.splitlines() if "INSTALLED_APPS" in line]
    assert len(warnings) == 1
    assert "DQUEUE_BACKEND, DQUEUE_WORKERS" in warnings[0]
    assert "'dqueue_django' is not in INSTALLED_APPS" in warnings[0]
    assert out.count("ran inline") == 2  # the settings were not read: the default ran them
    installed = _run(tmp_path, "dqueue_django")
    assert "INSTALLED_APPS" not in installed
    assert "ran inline" not in installed  # read: on the memory backend the settings name
