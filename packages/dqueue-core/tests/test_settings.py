from __future__ import annotations

from pathlib import Path

import pytest

from dqueue.errors import ConfigurationError
from dqueue.settings import (
    Settings,
    configure,
    environment_layer,
    file_layer,
    get_settings,
)


def test_defaults_use_the_synchronous_backend() -> None:
    assert get_settings().BACKEND == "dqueue.backends.synchronous.SynchronousBackend"
    assert get_settings().WORKERS == {}


def test_environment_values_are_parsed_as_json_when_they_parse() -> None:
    layer = environment_layer(
        {
            "DQUEUE_WORKERS": '{"default": 2}',
            "DQUEUE_PREFETCH": "8",
            "DQUEUE_STRICT_QUEUES": "false",
            "DQUEUE_BACKEND": "dqueue.backends.sqlite.SQLiteBackend",
            "DQUEUE_TASKS": "app.tasks, other.tasks",
            "DQUEUE_TOUCH_FILE": "none",
            "UNRELATED": "1",
        }
    )
    settings = Settings.from_layers([layer])
    assert settings.WORKERS == {"default": 2}
    assert settings.PREFETCH == 8
    assert settings.STRICT_QUEUES is False
    assert settings.BACKEND == "dqueue.backends.sqlite.SQLiteBackend"
    assert settings.TASKS == ("app.tasks", "other.tasks")
    assert settings.TOUCH_FILE is None


def test_a_higher_layer_replaces_whole_values_and_inherits_the_rest() -> None:
    low = {"DQUEUE_WORKERS": {"a": 1, "b": 2}, "DQUEUE_PREFETCH": 4}
    high = {"DQUEUE_WORKERS": {"a": 5}}
    settings = Settings.from_layers([low, high])
    assert settings.WORKERS == {"a": 5}
    assert settings.PREFETCH == 4


def test_falsey_values_in_a_higher_layer_still_win() -> None:
    settings = Settings.from_layers(
        [{"DQUEUE_SYNCHRONOUS_RAISE": True}, {"DQUEUE_SYNCHRONOUS_RAISE": False}]
    )
    assert settings.SYNCHRONOUS_RAISE is False


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WORKERS", {"q": -1}),
        ("WORKERS", {"q": "2"}),
        ("WORKERS", ["q"]),
        ("PREFETCH", 0),
        ("ASYNC_CONCURRENCY", 0),
        ("ASYNC_CONCURRENCY", "many"),
        ("LEASE_SECONDS", 0),
        ("HEARTBEAT_SECONDS", 0),
        ("HEARTBEAT_SECONDS", "often"),
        ("RETRY_JITTER", 2),
        ("STRICT_QUEUES", "yes"),
        ("LOG_LEVEL", "LOUD"),
        ("LOG_FORMAT", "xml"),
        ("BACKEND", "nodots"),
        ("MIDDLEWARE", "one.string"),
        ("PROMETHEUS_START_PORT", 70000),
        ("TOUCH_FILE", 3),
        ("WORKER_MAX_IDLE", "soon"),
        ("BACKEND_OVERRIDES", {"q": 1}),
    ],
)
def test_a_bad_value_fails_naming_the_setting(name: str, value: object) -> None:
    with pytest.raises(ConfigurationError, match=f"DQUEUE_{name}"):
        Settings.from_layers([{f"DQUEUE_{name}": value}])


def test_a_config_file_accepts_names_with_and_without_the_prefix(tmp_path: Path) -> None:
    config = tmp_path / "special.py"
    config.write_text("WORKERS = {'queue1': 2}\nDQUEUE_PREFETCH = 3\n")
    layer = file_layer(config)
    assert layer == {"DQUEUE_WORKERS": {"queue1": 2}, "DQUEUE_PREFETCH": 3}


def test_a_config_file_warns_about_unexpected_names(tmp_path: Path) -> None:
    config = tmp_path / "typo.py"
    config.write_text("DQUEUE_WORKRES = {'queue1': 2}\n")
    with pytest.warns(UserWarning, match=r"DQUEUE_WORKRES \(did you mean DQUEUE_WORKERS\?\)"):
        file_layer(config)


def test_a_missing_config_file_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        file_layer(tmp_path / "absent.py")


def test_a_config_file_that_raises_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "broken.py"
    config.write_text("1 / 0\n")
    with pytest.raises(ConfigurationError, match="broken.py"):
        file_layer(config)


def test_configure_layers_the_framework_below_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "special.py"
    config.write_text("WORKERS = {'queue1': 2}\n")
    settings = configure(
        framework=lambda: {"DQUEUE_WORKERS": {"queue1": 3}, "DQUEUE_PREFETCH": 7},
        config_file=config,
    )
    assert settings.WORKERS == {"queue1": 2}
    assert settings.PREFETCH == 7


def test_the_environment_is_the_lowest_configured_layer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DQUEUE_PREFETCH", "5")
    monkeypatch.setenv("DQUEUE_LEASE_SECONDS", "9")
    settings = configure(framework=lambda: {"DQUEUE_PREFETCH": 6})
    assert settings.PREFETCH == 6
    assert settings.LEASE_SECONDS == 9.0


def test_settings_are_immutable() -> None:
    settings = get_settings()
    with pytest.raises(AttributeError):
        settings.PREFETCH = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        settings.WORKERS["x"] = 1  # type: ignore[index]


def test_backend_overrides_pick_the_backend_per_queue() -> None:
    settings = Settings(BACKEND_OVERRIDES={"fast": "dqueue.backends.memory.MemoryBackend"})
    assert settings.backend_path("fast") == "dqueue.backends.memory.MemoryBackend"
    assert settings.backend_path("other") == settings.BACKEND


def test_as_dict_round_trips_through_from_layers() -> None:
    settings = Settings(WORKERS={"a": 2}, TASKS=("x.tasks",))
    assert Settings.from_layers([settings.as_dict()]) == settings


@pytest.mark.parametrize(("text", "expected"), [("True", True), ("off", False), ("1", True)])
def test_yes_no_environment_values_may_be_written_as_words(text: str, expected: bool) -> None:
    settings = Settings.from_layers([environment_layer({"DQUEUE_STRICT_QUEUES": text})])

    assert settings.STRICT_QUEUES is expected


def test_an_environment_value_that_is_not_json_is_named_as_the_variable() -> None:
    layer = environment_layer({"DQUEUE_WORKERS": '{"default": 2'})

    with pytest.raises(
        ConfigurationError, match="environment variable DQUEUE_WORKERS: not valid JSON"
    ):
        Settings.from_layers([layer])
