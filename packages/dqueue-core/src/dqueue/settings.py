"""Settings: every ``DQUEUE_*`` value in one typed, frozen object.

Layers, lowest first: built-in defaults, environment variables, the host framework's settings
(dqueue-django adds Django's), then a ``--config FILE`` python file. A setting missing from a
layer is inherited from the layer below; a value replaces the whole value below it (dicts are
not merged), so a config file can say exactly what it means. Bad values fail here, at start-up,
with a message that names the setting.
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import ipaddress
import json
import logging
import os
import re
import threading
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from types import MappingProxyType
from typing import Any, Final

from .errors import ConfigurationError

__all__ = [
    "PREFIX",
    "Settings",
    "config_file_applied",
    "configure",
    "environment_layer",
    "file_layer",
    "get_settings",
    "reset_settings",
]

PREFIX: Final = "DQUEUE_"
_logger = logging.getLogger("dqueue.settings")


def _frozen(mapping: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping))


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The effective configuration. Read it with :func:`get_settings`.

    Each attribute is the setting ``DQUEUE_<ATTRIBUTE>``; see the dqueue-core README for the
    meaning and default of each one.
    """

    # Where jobs go.
    BACKEND: str = "dqueue.backends.synchronous.SynchronousBackend"
    BACKEND_OVERRIDES: Mapping[str, str] = field(default_factory=dict)
    SQLITE_PATH: str = "dqueue.sqlite3"
    REDIS_URL: str | None = None
    REDIS_HOST: str = "127.0.0.1"
    REDIS_PORT: int = 6379
    REDIS_PASSWORD: str | None = None
    REDIS_DATABASE: int = 0
    REDIS_PREFIX: str = "dqueue"
    REDIS_SOCKET_TIMEOUT: float = 30.0

    # Who runs them.
    WORKERS: Mapping[str, int] = field(default_factory=dict)
    TASKS: tuple[str, ...] = ()
    MIDDLEWARE: tuple[str, ...] = ("dqueue.middleware.LoggingMiddleware",)
    LOGGER_FACTORY: str = "logging.getLogger"
    STRICT_QUEUES: bool = False

    # How they run.
    DEFAULT_MAX_ATTEMPTS: int = 3
    RETRY_BACKOFF: float = 1.0
    RETRY_BACKOFF_MAX: float = 3600.0
    RETRY_JITTER: float = 0.25
    LEASE_SECONDS: float = 60.0
    PREFETCH: int = 32
    RESULT_TTL: float = 86400.0
    TIMEOUT_GRACE: float = 5.0
    POLL_INTERVAL: float = 0.05
    SHUTDOWN_TIMEOUT: float = 30.0
    WORKER_MAX_JOBS: int | None = None
    WORKER_MAX_IDLE: float | None = None
    WORKER_MAX_MEMORY_MB: int | None = None
    RESTART_BACKOFF_MAX: float = 30.0
    SYNCHRONOUS_RAISE: bool = True
    DEAD_LETTER_LIMIT: int = 10_000

    # Operations.
    TOUCH_FILE: str | None = None
    ENABLE_PROMETHEUS: bool = False
    PROMETHEUS_START_PORT: int = 9300
    PROMETHEUS_ADDRESS: str = "127.0.0.1"
    LOG_LEVEL: str = "INFO"

    # Django (read by dqueue-django; kept here so that all settings live in one object).
    ATOMIC_JOBS: bool = True
    ENQUEUE_ON_COMMIT: bool = True
    OUTBOX: bool = False
    OUTBOX_DATABASE: str = "default"
    IGNORE_APPS: tuple[str, ...] = ()

    # Cron (read by dqueue-cron).
    CRON: tuple[Any, ...] = ()
    CRON_QUEUE: str = "cron"
    CRON_TIMEZONE: str = "UTC"
    CRON_CATCH_UP: str = "latest"
    CRON_CATCH_UP_WINDOW: float = 3600.0

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            checked = _coerce(item.name, value)
            if checked is not value:
                object.__setattr__(self, item.name, checked)
        _validate(self)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every setting's short name (``WORKERS``, ``BACKEND``, ...)."""
        return tuple(item.name for item in fields(cls))

    @classmethod
    def from_layers(cls, layers: Iterable[Mapping[str, Any]]) -> Settings:
        """Build settings from ``layers`` (lowest first) of ``DQUEUE_*`` names to values."""
        known = set(cls.names())
        merged: dict[str, Any] = {}
        for layer in layers:
            for full_name, value in layer.items():
                short = full_name.removeprefix(PREFIX)
                if full_name.startswith(PREFIX) and short in known:
                    merged[short] = value
        return cls(**merged)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` (short names) applied and validated."""
        return dataclasses.replace(self, **changes)

    def backend_path(self, queue: str) -> str:
        """The dotted path of the backend that serves ``queue``."""
        return self.BACKEND_OVERRIDES.get(queue, self.BACKEND)

    def as_dict(self) -> dict[str, Any]:
        """Every setting as ``{"DQUEUE_NAME": value}``, JSON-ready."""
        out: dict[str, Any] = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, Mapping):
                value = dict(value)
            elif isinstance(value, tuple):
                value = list(value)
            out[PREFIX + item.name] = value
        return out


# -- coercion and validation -------------------------------------------------------------------

_STRINGS = {
    "BACKEND", "SQLITE_PATH", "REDIS_HOST", "REDIS_PREFIX", "LOGGER_FACTORY", "LOG_LEVEL",
    "CRON_QUEUE", "CRON_TIMEZONE", "CRON_CATCH_UP", "PROMETHEUS_ADDRESS", "OUTBOX_DATABASE",
}  # fmt: skip
_OPTIONAL_STRINGS = {"REDIS_URL", "REDIS_PASSWORD", "TOUCH_FILE"}
_INTS = {"REDIS_PORT", "REDIS_DATABASE", "DEFAULT_MAX_ATTEMPTS", "PREFETCH",
         "PROMETHEUS_START_PORT", "DEAD_LETTER_LIMIT"}  # fmt: skip
_OPTIONAL_INTS = {"WORKER_MAX_JOBS", "WORKER_MAX_MEMORY_MB"}
_FLOATS = {"REDIS_SOCKET_TIMEOUT", "RETRY_BACKOFF", "RETRY_BACKOFF_MAX", "RETRY_JITTER",
           "LEASE_SECONDS", "RESULT_TTL", "TIMEOUT_GRACE", "POLL_INTERVAL", "SHUTDOWN_TIMEOUT",
           "RESTART_BACKOFF_MAX", "CRON_CATCH_UP_WINDOW"}  # fmt: skip
_OPTIONAL_FLOATS = {"WORKER_MAX_IDLE"}
_BOOLS = {"STRICT_QUEUES", "SYNCHRONOUS_RAISE", "ENABLE_PROMETHEUS", "ATOMIC_JOBS",
          "ENQUEUE_ON_COMMIT", "OUTBOX"}  # fmt: skip
_STRING_TUPLES = {"TASKS", "MIDDLEWARE", "IGNORE_APPS"}
_STRING_MAPS = {"BACKEND_OVERRIDES"}
_INT_MAPS = {"WORKERS"}
_ANY_TUPLES = {"CRON"}
_CATCH_UP_POLICIES = ("skip", "latest", "all")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


#: How a yes/no environment variable may be written, as shells and container files do.
_ENVIRONMENT_BOOLS: Final = {
    "true": True, "false": False, "1": True, "0": False,
    "yes": True, "no": False, "on": True, "off": False,
}  # fmt: skip


class _EnvironmentText(str):
    """An environment value that is not JSON, kept as text (right for string settings)."""

    json_error = ""


def _bad(name: str, expected: str, value: Any) -> ConfigurationError:
    message = f"{PREFIX}{name} must be {expected}, not {value!r}"
    if isinstance(value, _EnvironmentText):
        # Say where the value came from, and for JSON-only values why it was read as text.
        needs_json = name in _STRING_MAPS | _INT_MAPS | _ANY_TUPLES
        detail = f": not valid JSON ({value.json_error})" if needs_json else ""
        if name in _BOOLS:
            detail = ": write true or false"
        message += f" (environment variable {PREFIX}{name}{detail})"
    return ConfigurationError(message)


def _coerce(name: str, value: Any) -> Any:
    if name in _STRINGS or (name in _OPTIONAL_STRINGS and value is not None):
        if not isinstance(value, str):
            raise _bad(name, "a string", value)
        return value
    if name in _OPTIONAL_STRINGS:
        return value
    if name in _INTS or (name in _OPTIONAL_INTS and value is not None):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _bad(name, "an integer", value)
        return value
    if name in _OPTIONAL_INTS:
        return value
    if name in _FLOATS or (name in _OPTIONAL_FLOATS and value is not None):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _bad(name, "a number", value)
        return float(value)
    if name in _OPTIONAL_FLOATS:
        return value
    if name in _BOOLS:
        if not isinstance(value, bool):
            raise _bad(name, "True or False", value)
        return value
    if name in _STRING_TUPLES:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise _bad(name, "a list of strings", value)
        if not all(isinstance(item, str) for item in value):
            raise _bad(name, "a list of strings", value)
        return tuple(value)
    if name in _ANY_TUPLES:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise _bad(name, "a list", value)
        return tuple(value)
    if name in _STRING_MAPS or name in _INT_MAPS:
        if not isinstance(value, Mapping):
            raise _bad(name, "a dictionary", value)
        for key, item in value.items():
            if not isinstance(key, str) or not key:
                raise ConfigurationError(
                    f"{PREFIX}{name} has a key {key!r}: queue names are strings"
                )
            if name in _INT_MAPS and (
                isinstance(item, bool) or not isinstance(item, int) or item < 0
            ):
                raise ConfigurationError(
                    f"{PREFIX}{name}[{key!r}] must be a whole number of workers (0 or more), "
                    f"not {item!r}"
                )
            if name in _STRING_MAPS and not isinstance(item, str):
                raise ConfigurationError(f"{PREFIX}{name}[{key!r}] must be a dotted path string")
        return _frozen(value)
    return value


def _validate(settings: Settings) -> None:
    positive = ("LEASE_SECONDS", "POLL_INTERVAL", "REDIS_SOCKET_TIMEOUT", "RESTART_BACKOFF_MAX")
    for name in positive:
        if getattr(settings, name) <= 0:
            raise _bad(name, "greater than 0", getattr(settings, name))
    not_negative = ("RETRY_BACKOFF", "RETRY_BACKOFF_MAX", "RESULT_TTL", "TIMEOUT_GRACE",
                    "SHUTDOWN_TIMEOUT", "CRON_CATCH_UP_WINDOW")  # fmt: skip
    for name in not_negative:
        if getattr(settings, name) < 0:
            raise _bad(name, "0 or more", getattr(settings, name))
    if not 0 <= settings.RETRY_JITTER <= 1:
        raise _bad("RETRY_JITTER", "between 0 and 1", settings.RETRY_JITTER)
    if settings.DEFAULT_MAX_ATTEMPTS < 1:
        raise _bad("DEFAULT_MAX_ATTEMPTS", "1 or more", settings.DEFAULT_MAX_ATTEMPTS)
    if settings.PREFETCH < 1:
        raise _bad("PREFETCH", "1 or more", settings.PREFETCH)
    if settings.DEAD_LETTER_LIMIT < 1:
        raise _bad("DEAD_LETTER_LIMIT", "1 or more", settings.DEAD_LETTER_LIMIT)
    if not 0 < settings.REDIS_PORT < 65536:
        raise _bad("REDIS_PORT", "a TCP port", settings.REDIS_PORT)
    if not 0 < settings.PROMETHEUS_START_PORT < 65536:
        raise _bad("PROMETHEUS_START_PORT", "a TCP port", settings.PROMETHEUS_START_PORT)
    if not _is_bind_address(settings.PROMETHEUS_ADDRESS):
        raise _bad(
            "PROMETHEUS_ADDRESS",
            "an IP address or host name to listen on, such as '127.0.0.1' or '0.0.0.0'",
            settings.PROMETHEUS_ADDRESS,
        )
    if settings.CRON_CATCH_UP not in _CATCH_UP_POLICIES:
        raise _bad(
            "CRON_CATCH_UP", f"one of {', '.join(_CATCH_UP_POLICIES)}", settings.CRON_CATCH_UP
        )
    if settings.LOG_LEVEL.upper() not in _LOG_LEVELS:
        raise _bad("LOG_LEVEL", f"one of {', '.join(_LOG_LEVELS)}", settings.LOG_LEVEL)
    for name in ("WORKER_MAX_JOBS", "WORKER_MAX_MEMORY_MB"):
        value = getattr(settings, name)
        if value is not None and value < 1:
            raise _bad(name, "1 or more, or None", value)
    if settings.WORKER_MAX_IDLE is not None and settings.WORKER_MAX_IDLE <= 0:
        raise _bad("WORKER_MAX_IDLE", "greater than 0, or None", settings.WORKER_MAX_IDLE)
    if not settings.OUTBOX_DATABASE:
        raise _bad("OUTBOX_DATABASE", "a database alias such as 'default'", "")
    if "." not in settings.BACKEND:
        raise _bad("BACKEND", "a dotted path such as 'dqueue.backends.sqlite.SQLiteBackend'",
                   settings.BACKEND)  # fmt: skip


_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"  # "_": container service names
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def _is_bind_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return len(value) <= 253 and _HOST_NAME.fullmatch(value) is not None
    return True


# -- layers ------------------------------------------------------------------------------------


def environment_layer(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Read ``DQUEUE_*`` environment variables.

    Values are parsed as JSON when they parse (``DQUEUE_WORKERS='{"default": 2}'``,
    ``DQUEUE_PREFETCH=8``, ``DQUEUE_ATOMIC_JOBS=false``) and kept as strings otherwise
    (``DQUEUE_BACKEND=dqueue.backends.sqlite.SQLiteBackend``). Lists may also be written
    comma-separated (``DQUEUE_TASKS=app.tasks,other.tasks``), and yes/no settings as
    ``true``/``false``, ``1``/``0``, ``yes``/``no`` or ``on``/``off`` in any case.
    """
    source = os.environ if environ is None else environ
    known = set(Settings.names())
    layer: dict[str, Any] = {}
    for full_name, raw in source.items():
        short = full_name.removeprefix(PREFIX)
        if not full_name.startswith(PREFIX) or short not in known:
            continue
        layer[full_name] = _parse_environment_value(short, raw)
    return layer


def _parse_environment_value(short: str, raw: str) -> Any:
    if raw.strip().lower() in ("none", "null") and short in (
        _OPTIONAL_STRINGS | _OPTIONAL_INTS | _OPTIONAL_FLOATS
    ):
        return None
    if short in _BOOLS and raw.strip().lower() in _ENVIRONMENT_BOOLS:
        return _ENVIRONMENT_BOOLS[raw.strip().lower()]
    try:
        value = json.loads(raw)
    except ValueError as exc:
        value = _EnvironmentText(raw)
        value.json_error = str(exc)
    if short in _STRINGS | _OPTIONAL_STRINGS:
        return raw
    if short in _STRING_TUPLES and isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    return value


def file_layer(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Run a python config file and take its ``DQUEUE_*`` names.

    ``WORKERS = {...}`` without the prefix is accepted too, as the seed's ``special.py`` shows.
    An UPPERCASE name that is not a setting gets a warning, so typos don't pass silently.

    Raises:
        ConfigurationError: the file is missing or fails to run.
    """
    file = Path(path)
    if not file.is_file():
        problem = "is not a file" if file.exists() else "does not exist"
        raise ConfigurationError(f"config file {str(file)!r} {problem}")
    spec = importlib.util.spec_from_file_location(f"dqueue_config_{abs(hash(file))}", file)
    if spec is None or spec.loader is None:
        raise ConfigurationError(f"config file {str(file)!r} cannot be loaded as python")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        raise ConfigurationError(
            f"config file {str(file)!r} failed: {type(exc).__name__}: {exc}"
        ) from exc
    known = set(Settings.names())
    layer: dict[str, Any] = {}
    unexpected: list[str] = []
    for name, value in vars(module).items():
        if not name.isupper() or name.startswith("_"):
            continue
        short = name.removeprefix(PREFIX)
        if short in known:
            layer[PREFIX + short] = value
        else:
            unexpected.append(name)
    if unexpected:
        warnings.warn(
            f"Ignoring unexpected setting(s) {', '.join(sorted(unexpected))} in {file}",
            stacklevel=2,
        )
    return layer


# -- the process-wide settings -----------------------------------------------------------------

_lock = threading.RLock()
_current: Settings | None = None
_framework_layer: Callable[[], Mapping[str, Any]] | None = None
_file_layers: list[dict[str, Any]] = []
_overrides: dict[str, Any] = {}


def get_settings() -> Settings:
    """The effective settings of this process, built on first use and cached."""
    global _current
    settings = _current
    if settings is not None:
        return settings
    with _lock:
        if _current is None:
            layers: list[Mapping[str, Any]] = [environment_layer()]
            if _framework_layer is not None:
                layers.append(_framework_layer())
            layers.extend(_file_layers)
            layers.append(_overrides)
            _current = Settings.from_layers(layers)
        return _current


def configure(
    *,
    framework: Callable[[], Mapping[str, Any]] | None = None,
    config_file: str | os.PathLike[str] | None = None,
    **overrides: Any,
) -> Settings:
    """Change where settings come from, then rebuild and validate them.

    Args:
        framework: a callable that returns the host framework's ``DQUEUE_*`` values
            (dqueue-django passes one that reads ``django.conf.settings``).
        config_file: a python file whose settings override everything below it.
        **overrides: settings by short name (``WORKERS={"default": 2}``), highest of all.

    Raises:
        ConfigurationError: a value is bad; the message names the setting.
    """
    global _framework_layer, _current
    with _lock:
        if framework is not None:
            _framework_layer = framework
        if config_file is not None:
            _file_layers.append(file_layer(config_file))
        _overrides.update({PREFIX + name.removeprefix(PREFIX): v for name, v in overrides.items()})
        _current = None
        return get_settings()


@contextlib.contextmanager
def config_file_applied(path: str | os.PathLike[str]) -> Iterator[Settings]:
    """Layer a ``--config`` file on top for the block, then take it off again.

    For commands run in a long-lived process (Django's ``call_command``): the process's
    settings are left as they were found.

    Raises:
        ConfigurationError: the file is missing, fails to run, or sets a bad value.
    """
    global _current
    with _lock:
        before = len(_file_layers)
        _file_layers.append(file_layer(path))
        _current = None
        try:
            settings = get_settings()
        except ConfigurationError:
            del _file_layers[before:]
            _current = None
            raise
    try:
        yield settings
    finally:
        with _lock:
            del _file_layers[before:]
            _current = None


def reset_settings() -> None:
    """Forget every configured layer (for tests): back to defaults plus the environment."""
    global _framework_layer, _current
    with _lock:
        _framework_layer = None
        _file_layers.clear()
        _overrides.clear()
        _current = None


def invalidate_settings() -> None:
    """Rebuild settings on next use, keeping the configured layers (Django's setting_changed)."""
    global _current
    with _lock:
        _current = None
