from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

from dqueue.registry import REGISTRY
from dqueue.settings import get_settings
from dqueue_django.discovery import app_task_queues, autodiscover_tasks
from dqueue_django.queues import pool_counts


def test_every_installed_app_s_tasks_are_registered_at_startup() -> None:
    assert "dqtest_shop.tasks.record" in REGISTRY
    assert "dqtest_shop.tasks.record_slowly" in REGISTRY
    assert "dqueue_django.tasks.run_command" in REGISTRY


def test_tasks_of_installed_apps_imply_their_queues() -> None:
    assert app_task_queues() == {"default", "slow"}
    assert {"default": 1, "slow": 1}.items() <= pool_counts(get_settings()).items()


def test_a_task_outside_the_installed_apps_implies_no_queue() -> None:
    import dqtest_outside.tasks  # noqa: F401 - registers a task on queue "outside"

    assert "dqtest_outside.tasks.outside_task" in REGISTRY
    assert "outside" not in app_task_queues()
    assert "outside" not in pool_counts(get_settings())


def test_dqueue_django_s_own_task_implies_no_queue() -> None:
    assert REGISTRY.get("dqueue_django.tasks.run_command") is not None
    assert app_task_queues() == {"default", "slow"}


def test_ignored_apps_are_not_searched_for_tasks() -> None:
    assert "dqtest_shop.tasks" in autodiscover_tasks()
    assert "dqtest_shop.tasks" not in autodiscover_tasks(["dqtest_shop"])  # by module
    assert "dqtest_shop.tasks" not in autodiscover_tasks(["shop"])  # by label


@pytest.fixture
def app_with_broken_tasks(tmp_path: Path) -> Iterator[str]:
    package = tmp_path / "dqtest_broken"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text("import a_module_that_does_not_exist\n")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "dqtest_broken"
    finally:
        sys.path.remove(str(tmp_path))
        for name in [name for name in sys.modules if name.startswith("dqtest_broken")]:
            del sys.modules[name]


@pytest.fixture
def app_without_tasks(tmp_path: Path) -> Iterator[str]:
    package = tmp_path / "dqtest_plain"
    package.mkdir()
    (package / "__init__.py").write_text("")
    sys.path.insert(0, str(tmp_path))
    try:
        yield "dqtest_plain"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("dqtest_plain", None)


def test_a_tasks_module_that_fails_to_import_stops_django_from_starting(
    app_with_broken_tasks: str,
) -> None:
    with (
        pytest.raises(ImportError, match="a_module_that_does_not_exist"),
        override_settings(INSTALLED_APPS=["dqueue_django", app_with_broken_tasks]),
    ):
        pass


def test_an_app_without_a_tasks_module_is_fine(app_without_tasks: str) -> None:
    with override_settings(INSTALLED_APPS=["dqueue_django", app_without_tasks]):
        assert autodiscover_tasks() == ["dqueue_django.tasks"]
