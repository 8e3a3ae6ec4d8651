"""Plugins register themselves through entry points; the core discovers them and names none.

Each test installs a small distribution of its own (a module and its ``.dist-info`` with
``entry_points.txt``) on ``sys.path``, so discovery runs as it does for real plugins.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dqueue.backends import backend_class, load_backend
from dqueue.backends.memory import MemoryBackend
from dqueue.backends.sqlite import SQLiteBackend
from dqueue.errors import ConfigurationError, InvalidTask
from dqueue.loading import plugins
from dqueue.services import registered_services
from dqueue.settings import (
    Settings,
    SettingsSection,
    configure,
    environment_layer,
    file_layer,
)
from dqueue.task import task

Install = Callable[[str, dict[str, dict[str, str]]], None]

PLUGIN = """
from __future__ import annotations

from dataclasses import dataclass

from dqueue.backends.memory import MemoryBackend
from dqueue.settings import SettingsSection, bad_value
from dqueue.task_options import TaskOption


@dataclass(frozen=True, slots=True, kw_only=True)
class DemoSettings(SettingsSection):
    DEMO_URL: str | None = None
    DEMO_PORT: int = 7000
    DEMO_TIMEOUT: float = 1.0
    DEMO_ON: bool = True
    DEMO_NAMES: tuple[str, ...] = ()

    def validate(self) -> None:
        if not 0 < self.DEMO_PORT < 65536:
            raise bad_value("DEMO_PORT", "a TCP port", self.DEMO_PORT)


class DemoBackend(MemoryBackend):
    pass


class DemoService:
    name = "demo"
    queues = frozenset({"demo-queue"})

    def start(self) -> None: ...

    def stop(self, timeout_s: float = 5.0) -> None: ...


def demo_service(settings):
    return DemoService() if settings.section(DemoSettings).DEMO_ON else None


FLAG = TaskOption(bool, "a flag that the demo plugin reads")
"""


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install a distribution named ``name`` with the demo module and these entry points."""

    def install(name: str, groups: dict[str, dict[str, str]]) -> None:
        (tmp_path / f"{name}.py").write_text(PLUGIN)
        info = tmp_path / f"{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
        sections = [
            f"[{group}]\n" + "".join(f"{key} = {value}\n" for key, value in entries.items())
            for group, entries in groups.items()
        ]
        (info / "entry_points.txt").write_text("\n".join(sections))
        monkeypatch.syspath_prepend(str(tmp_path))
        plugins.cache_clear()

    yield install
    plugins.cache_clear()


@pytest.fixture
def demo(install: Install, tmp_path: Path) -> type:
    """The demo plugin, installed with every kind of entry point; its settings class."""
    module = f"demo_plugin_{abs(hash(tmp_path))}"
    install(
        module,
        {
            "dqueue.settings": {"demo": f"{module}:DemoSettings"},
            "dqueue.backends": {
                "demo": f"{module}:DemoBackend",
                "dqueue.backends.demo.DemoBackend": f"{module}:DemoBackend",
            },
            "dqueue.services": {"demo": f"{module}:demo_service"},
            "dqueue.task_options": {"flag": f"{module}:FLAG"},
        },
    )
    import importlib

    return importlib.import_module(module).DemoSettings  # type: ignore[no-any-return]


# -- settings sections ---------------------------------------------------------------------------


def test_a_section_s_settings_take_their_types_from_the_annotations(demo: type) -> None:
    layer = environment_layer(
        {"DQUEUE_DEMO_PORT": "7001", "DQUEUE_DEMO_TIMEOUT": "2", "DQUEUE_DEMO_URL": "none"}
    )
    section = Settings.from_layers([layer]).section(demo)

    assert section.DEMO_PORT == 7001
    assert section.DEMO_TIMEOUT == 2.0
    assert isinstance(section.DEMO_TIMEOUT, float)
    assert section.DEMO_URL is None


def test_a_section_s_settings_are_layered_like_the_core_s(demo: type, tmp_path: Path) -> None:
    config = tmp_path / "special.py"
    config.write_text("DEMO_NAMES = ['from-file']\n")
    settings = configure(
        framework=lambda: {"DQUEUE_DEMO_NAMES": ["framework"], "DQUEUE_DEMO_PORT": 7002},
        config_file=config,
    )

    assert settings.section(demo).DEMO_NAMES == ("from-file",)
    assert settings.section(demo).DEMO_PORT == 7002


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("DEMO_PORT", "many", "DQUEUE_DEMO_PORT must be an integer"),
        ("DEMO_PORT", 0, "DQUEUE_DEMO_PORT must be a TCP port"),
        ("DEMO_ON", "yes", "DQUEUE_DEMO_ON must be True or False"),
        ("DEMO_NAMES", "one", "DQUEUE_DEMO_NAMES must be a list of strings"),
    ],
)
def test_a_bad_section_value_fails_naming_the_setting(
    demo: type, name: str, value: object, message: str
) -> None:
    with pytest.raises(ConfigurationError, match=message):
        Settings.from_layers([{f"DQUEUE_{name}": value}])


def test_a_bad_section_value_from_the_environment_names_the_variable(demo: type) -> None:
    layer = environment_layer({"DQUEUE_DEMO_ON": "maybe"})

    with pytest.raises(ConfigurationError, match="environment variable DQUEUE_DEMO_ON"):
        Settings.from_layers([layer])


def test_settings_know_and_show_every_section_s_names(demo: type) -> None:
    settings = Settings().replace(DEMO_PORT=7003, PREFETCH=4)

    assert "DEMO_PORT" in Settings.names()
    assert settings.as_dict()["DQUEUE_DEMO_PORT"] == 7003
    assert settings.as_dict()["DQUEUE_PREFETCH"] == 4
    assert Settings.from_layers([settings.as_dict()]) == settings


def test_a_config_file_accepts_section_names_and_suggests_one_for_a_typo(
    demo: type, tmp_path: Path
) -> None:
    config = tmp_path / "typo.py"
    config.write_text("DEMO_PORT = 7004\nDQUEUE_DEMO_PROT = 1\n")

    with pytest.warns(UserWarning, match=r"DQUEUE_DEMO_PROT \(did you mean DQUEUE_DEMO_PORT\?\)"):
        layer = file_layer(config)
    assert layer == {"DQUEUE_DEMO_PORT": 7004}


@dataclass(frozen=True, slots=True, kw_only=True)
class UnregisteredSettings(SettingsSection):
    UNREGISTERED_LIMIT: int = 5


def test_a_section_that_no_plugin_registers_reads_as_its_defaults() -> None:
    assert Settings().section(UnregisteredSettings).UNREGISTERED_LIMIT == 5
    given = Settings(sections=[UnregisteredSettings(UNREGISTERED_LIMIT=6)])
    assert given.section(UnregisteredSettings).UNREGISTERED_LIMIT == 6


def test_a_section_may_not_declare_a_core_setting(install: Install, tmp_path: Path) -> None:
    module = "clashing_plugin"
    install(module, {"dqueue.settings": {"clash": f"{module}:Clashing"}})
    (tmp_path / f"{module}.py").write_text(
        "from dataclasses import dataclass\n"
        "from dqueue.settings import SettingsSection\n"
        "@dataclass(frozen=True, slots=True, kw_only=True)\n"
        "class Clashing(SettingsSection):\n"
        "    PREFETCH: int = 1\n"
    )

    with pytest.raises(ConfigurationError, match="DQUEUE_PREFETCH is a core setting"):
        Settings.names()


def test_two_sections_may_not_declare_the_same_setting(install: Install, tmp_path: Path) -> None:
    module = "twin_plugin"
    install(module, {"dqueue.settings": {"a": f"{module}:First", "b": f"{module}:Second"}})
    (tmp_path / f"{module}.py").write_text(
        "from dataclasses import dataclass\n"
        "from dqueue.settings import SettingsSection\n"
        "@dataclass(frozen=True, slots=True, kw_only=True)\n"
        "class First(SettingsSection):\n"
        "    TWIN_URL: str = ''\n"
        "@dataclass(frozen=True, slots=True, kw_only=True)\n"
        "class Second(SettingsSection):\n"
        "    TWIN_URL: str = ''\n"
    )

    with pytest.raises(ConfigurationError, match="DQUEUE_TWIN_URL is declared by section First"):
        Settings.names()


# -- backends ------------------------------------------------------------------------------------


def test_the_core_s_backends_are_found_by_their_short_names() -> None:
    assert backend_class("sqlite") is SQLiteBackend
    assert backend_class("memory") is MemoryBackend
    assert Settings(BACKEND="memory").BACKEND == "memory"


def test_a_plugin_s_backend_is_found_by_name_and_by_its_registered_dotted_path(
    demo: type,
) -> None:
    by_name = backend_class("demo")

    assert backend_class("dqueue.backends.demo.DemoBackend") is by_name
    backend = load_backend("dqueue.backends.demo.DemoBackend", Settings())
    assert isinstance(backend, by_name)


def test_a_backend_no_plugin_provides_says_so_and_lists_the_installed_ones() -> None:
    path = "dqueue.backends.absent.AbsentBackend"

    with pytest.raises(ConfigurationError) as raised:
        load_backend(path, Settings(BACKEND=path))

    message = str(raised.value)
    assert message.startswith(f"DQUEUE_BACKEND = {path!r} cannot be imported")
    assert "no installed plugin provides it" in message
    assert "memory, " in message
    assert "sqlite" in message
    assert "install the distribution that provides it" in message


def test_a_name_that_is_no_backend_nor_dotted_path_is_refused_by_the_settings() -> None:
    with pytest.raises(ConfigurationError, match="DQUEUE_BACKEND must be a backend's name"):
        Settings(BACKEND="nowhere")


# -- services ------------------------------------------------------------------------------------


def test_a_plugin_s_service_is_discovered_with_the_queues_it_feeds(demo: type) -> None:
    services = registered_services(Settings())

    assert [service.name for service in services] == ["demo"]
    assert [service.queues for service in services] == [{"demo-queue"}]


def test_a_plugin_with_nothing_to_run_adds_no_service(demo: type) -> None:
    assert registered_services(Settings().replace(DEMO_ON=False)) == []


# -- task options --------------------------------------------------------------------------------


def test_a_task_option_no_plugin_provides_is_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="'shiny'.*no installed plugin provides"):

        @task(name="tests.plugins.unknown_option", shiny=False)
        def job() -> None: ...


def test_a_plugin_s_task_option_is_kept_in_the_task_s_options(demo: type) -> None:
    @task(name="tests.plugins.flagged", flag=True)
    def job() -> None: ...

    assert job.options.extra == {"flag": True}
    assert job.using(flag=False).options.extra == {"flag": False}
    assert job.options.extra == {"flag": True}


def test_a_plugin_s_task_option_refuses_a_value_of_another_kind(demo: type) -> None:
    with pytest.raises(InvalidTask, match="flag must be bool or None"):

        @task(name="tests.plugins.bad_flag", flag="yes")
        def job() -> None: ...


# -- the core names no plugin --------------------------------------------------------------------

CORE_SOURCE = Path(__file__).resolve().parents[1] / "src"


def test_the_core_s_source_names_no_plugin_package() -> None:
    naming = [
        f"{path.relative_to(CORE_SOURCE)}:{number}"
        for path in sorted(CORE_SOURCE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        for package in ("redis", "cron", "django")
        if f"dqueue_{package}" in line
    ]
    assert naming == []
