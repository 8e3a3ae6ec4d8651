"""A relative SQLite path names one file, whatever folder a process was started in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dqueue import configure, get_backend, get_settings
from dqueue.messages import MessageQueue
from dqueue.settings.paths import user_data_folder
from dqueue.testing import clean_settings


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder with a --config file that leaves DQUEUE_SQLITE_PATH at its default."""
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "settings.py").write_text('DQUEUE_BACKEND = "sqlite"\n')
    for name in ("here", "there"):
        (tmp_path / name).mkdir()
    return folder


def test_processes_started_in_different_folders_share_the_default_file_next_to_the_config(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path / "here")
    with clean_settings():
        configure(config_file=project / "settings.py")
        MessageQueue("inbox").put({"n": 1})
    monkeypatch.chdir(tmp_path / "there")
    with clean_settings():
        configure(config_file=project / "settings.py")
        assert str(project / "dqueue.sqlite3") == get_settings().SQLITE_PATH
        assert get_backend("inbox").counts("inbox").ready == 1
    assert not (tmp_path / "here" / "dqueue.sqlite3").exists()


def test_an_explicit_relative_path_is_resolved_against_the_config_folder_and_said_so(
    project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path / "here")
    monkeypatch.setenv("DQUEUE_SQLITE_PATH", "jobs.sqlite3")
    configure(config_file=project / "settings.py")
    settings = get_settings()
    assert str(project / "jobs.sqlite3") == settings.SQLITE_PATH
    [note] = settings.path_notes
    assert "'jobs.sqlite3' is relative" in note
    assert f"the --config file {project / 'settings.py'}" in note


def test_without_a_config_file_the_default_file_is_in_the_per_user_data_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    settings = get_settings()
    assert str(user_data_folder() / "dqueue.sqlite3") == settings.SQLITE_PATH
    assert user_data_folder().is_dir()  # made, so that the store can create its file there
    assert "the default" in settings.path_notes[0]


def test_an_absolute_path_is_kept_as_given(tmp_path: Path) -> None:
    configure(SQLITE_PATH=str(tmp_path / "q.sqlite3"))
    assert str(tmp_path / "q.sqlite3") == get_settings().SQLITE_PATH
    assert get_settings().path_notes == ()


def test_status_and_configuration_show_the_absolute_file_and_how_it_was_found(
    project: Path, tmp_path: Path
) -> None:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DQUEUE_")}
    for command in ("status", "configuration"):
        done = subprocess.run(
            [sys.executable, "-m", "dqueue", "--config", "../project/settings.py", command],
            cwd=tmp_path / "there",
            env=environment,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        assert f"SQLite file: {project / 'dqueue.sqlite3'}" in done.stdout
        assert "resolved against the folder of the --config file" in done.stdout
