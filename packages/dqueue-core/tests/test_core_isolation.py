"""dqueue-core stands alone: importing all of it pulls in neither Django nor redis."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CHECK = """
import importlib, pkgutil, sys
import dqueue
for module in pkgutil.walk_packages(dqueue.__path__, "dqueue."):
    if module.name == "dqueue.__main__":
        continue
    importlib.import_module(module.name)
leaked = sorted(name for name in sys.modules if name.split(".")[0] in ("django", "redis"))
print(",".join(leaked))
"""


def test_importing_every_core_module_imports_neither_django_nor_redis() -> None:
    result = subprocess.run(
        [sys.executable, "-c", CHECK], capture_output=True, text=True, check=True, timeout=120
    )
    assert result.stdout.strip() == ""


def test_the_seed_s_redis_backend_paths_say_what_to_install_when_no_plugin_provides_them() -> None:
    probe = """
import sys
import dqueue.loading
sys.modules["dqueue_redis"] = None  # as if not installed: its module and its entry points
everything = dqueue.loading.entry_points
dqueue.loading.entry_points = lambda group: [
    entry for entry in everything(group=group) if not entry.value.startswith("dqueue_redis")
]
from dqueue.backends import load_backend
from dqueue.errors import ConfigurationError
from dqueue.settings import Settings
for path in ("dqueue.backends.redis.RedisBackend",
             "dqueue.backends.reliable_redis.ReliableRedisBackend"):
    try:
        load_backend(path, Settings(BACKEND=path))
    except ConfigurationError as exc:
        print(exc)
"""
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=120
    )
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 2
    assert all("no installed plugin provides it" in line for line in lines)
    assert all("install the distribution that provides it" in line for line in lines)


PLUGINS = ("dqueue_redis", "dqueue_cron", "dqueue_django")
CORE_SOURCE = Path(__file__).resolve().parents[1] / "src" / "dqueue"


def test_no_core_source_names_a_plugin_package() -> None:
    """The core discovers its plugins: not even a string or a comment of it names one."""
    naming = [
        f"{path.relative_to(CORE_SOURCE.parent)}:{number}: {line.strip()}"
        for path in sorted(CORE_SOURCE.rglob("*.py"))
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if any(plugin in line for plugin in PLUGINS)
    ]
    assert naming == [], "core source names a plugin package:\n" + "\n".join(naming)
