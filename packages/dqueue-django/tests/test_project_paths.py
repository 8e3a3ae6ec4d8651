"""A relative DQUEUE_SQLITE_PATH in a Django project is a file in the project's BASE_DIR."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.test import override_settings

from dqueue import get_settings


def test_a_relative_sqlite_path_is_resolved_against_base_dir() -> None:
    with override_settings(DQUEUE_SQLITE_PATH="jobs.sqlite3"):
        resolved = get_settings()
    assert str(Path(settings.BASE_DIR) / "jobs.sqlite3") == resolved.SQLITE_PATH
    assert f"the project's folder {settings.BASE_DIR}" in resolved.path_notes[0]
