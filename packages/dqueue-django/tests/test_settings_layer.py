from __future__ import annotations

from pathlib import Path

import pytest
from django.test import override_settings

from dqueue.errors import ConfigurationError
from dqueue.settings import get_settings, suggest_name
from dqueue_django.conf import config_file, django_layer, unknown_names


def test_dqueue_settings_come_from_django_settings() -> None:
    settings = get_settings()

    assert settings.BACKEND == "dqueue.backends.sqlite.SQLiteBackend"
    assert settings.RETRY_BACKOFF == 0.1
    assert dict(settings.WORKERS) == {"default": 1}


def test_override_settings_changes_dqueue_settings_at_once() -> None:
    get_settings()  # cached before the override

    with override_settings(DQUEUE_WORKERS={"mail": 4}, DQUEUE_PREFETCH=3):
        assert dict(get_settings().WORKERS) == {"mail": 4}
        assert get_settings().PREFETCH == 3

    assert dict(get_settings().WORKERS) == {"default": 1}


def test_the_django_layer_holds_only_dqueue_names() -> None:
    layer = django_layer()

    assert "DQUEUE_BACKEND" in layer
    assert all(name.startswith("DQUEUE_") for name in layer)


def test_a_config_file_overrides_django_settings_and_inherits_the_rest(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("DQUEUE_WORKERS = {'queue1': 2}\nDQUEUE_PREFETCH = 7\n")

    with config_file(special) as warnings:
        settings = get_settings()
        assert dict(settings.WORKERS) == {"queue1": 2}
        assert settings.PREFETCH == 7
        assert settings.BACKEND == "dqueue.backends.sqlite.SQLiteBackend"  # inherited
    assert warnings == []


def test_a_config_file_may_use_the_seed_s_short_names(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("WORKERS = {'queue1': 2}\n")

    with config_file(special):
        assert dict(get_settings().WORKERS) == {"queue1": 2}


def test_a_config_file_s_layer_is_gone_after_the_block(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("DQUEUE_PREFETCH = 7\n")

    with config_file(special):
        pass

    assert get_settings().PREFETCH != 7


def test_a_config_file_s_unknown_names_are_reported_as_warnings(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("DQUEUE_WORKRES = {'queue1': 2}\n")

    with config_file(special) as warnings:
        pass

    assert len(warnings) == 1
    assert "DQUEUE_WORKRES" in warnings[0]


def test_a_config_file_with_a_bad_value_names_the_setting(tmp_path: Path) -> None:
    special = tmp_path / "special.py"
    special.write_text("DQUEUE_PREFETCH = 'lots'\n")

    with pytest.raises(ConfigurationError, match="DQUEUE_PREFETCH"), config_file(special):
        pass
    assert get_settings().PREFETCH != "lots"


def test_a_missing_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"), config_file(tmp_path / "no.py"):
        pass


def test_unknown_dqueue_names_in_django_settings_are_found_with_a_suggestion() -> None:
    with override_settings(DQUEUE_WORKRES={"a": 1}):
        assert unknown_names() == ["DQUEUE_WORKRES"]
    assert suggest_name("DQUEUE_WORKRES") == "DQUEUE_WORKERS"
