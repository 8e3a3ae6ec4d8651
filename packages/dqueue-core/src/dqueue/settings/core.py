"""``Settings``: the core's settings, and the sections of the installed plugins beside them."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from ..errors import ConfigurationError
from ..loading import BACKENDS_GROUP, plugins
from ..logs import LOG_FORMATS, LOG_LEVELS
from .sections import PREFIX, SettingsSection, bad_value, registered_sections, setting_types

__all__ = ["Settings", "all_setting_types"]

S = TypeVar("S", bound=SettingsSection)


def _none_or(valid: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: value is None or valid(value)


_NOT_NEGATIVE = ("RETRY_BACKOFF", "RETRY_BACKOFF_MAX", "RESULT_TTL", "TIMEOUT_GRACE")

#: The core's range checks: the settings, what their values pass, what the message says.
_RANGES: tuple[tuple[tuple[str, ...], Callable[[Any], bool], str], ...] = (
    (("LEASE_SECONDS", "POLL_INTERVAL", "RESTART_BACKOFF_MAX"), lambda v: v > 0, "greater than 0"),
    (("HEARTBEAT_SECONDS",), lambda v: v > 0, "greater than 0"),
    ((*_NOT_NEGATIVE, "SHUTDOWN_TIMEOUT", "ID_RETENTION"), lambda v: v >= 0, "0 or more"),
    (("RETRY_JITTER",), lambda v: 0 <= v <= 1, "between 0 and 1"),
    (("DEFAULT_MAX_ATTEMPTS", "PREFETCH", "DEAD_LETTER_LIMIT"), lambda v: v >= 1, "1 or more"),
    (("ASYNC_CONCURRENCY",), lambda v: v >= 1, "1 or more (1: one job at a time)"),
    (("PROMETHEUS_START_PORT",), lambda v: 0 < v < 65536, "a TCP port"),
    (("WORKER_MAX_JOBS", "WORKER_MAX_MEMORY_MB"), _none_or(lambda v: v >= 1), "1 or more, or None"),
    (("WORKER_MAX_IDLE",), _none_or(lambda v: v > 0), "greater than 0, or None"),
    (("LOG_LEVEL",), lambda v: v.upper() in LOG_LEVELS, f"one of {', '.join(LOG_LEVELS)}"),
    (("LOG_FORMAT",), lambda v: v.lower() in LOG_FORMATS, f"one of {', '.join(LOG_FORMATS)}"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings(SettingsSection):
    """The effective configuration. Read it with :func:`dqueue.settings.get_settings`.

    Each UPPERCASE attribute is the setting ``DQUEUE_<ATTRIBUTE>``; see the dqueue-core README
    for the meaning and default of each one. Plugins' settings are in ``sections``, one per
    installed plugin (defaults for those not given); read one with :meth:`section`.
    """

    # Where jobs go.
    BACKEND: str = "dqueue.backends.synchronous.SynchronousBackend"
    BACKEND_OVERRIDES: Mapping[str, str] = field(default_factory=dict)
    SQLITE_PATH: str = "dqueue.sqlite3"  # relative: see dqueue.settings.paths

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
    HEARTBEAT_SECONDS: float = 5.0
    PREFETCH: int = 32
    ASYNC_CONCURRENCY: int = 1
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
    ID_RETENTION: float = 600.0

    # Operations.
    TOUCH_FILE: str | None = None
    ENABLE_PROMETHEUS: bool = False
    PROMETHEUS_START_PORT: int = 9300
    PROMETHEUS_ADDRESS: str = "127.0.0.1"
    LOG_LEVEL: str = "INFO"
    LOG_FORMAT: str = "text"

    #: The plugins' sections: given ones first replace the defaults of their class.
    sections: tuple[SettingsSection, ...] = ()
    #: The short names that a layer or :meth:`replace` set; the others are defaults.
    given: frozenset[str] = field(default=frozenset(), compare=False)
    #: How relative paths were made absolute (:mod:`dqueue.settings.paths`), as sentences.
    path_notes: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        SettingsSection.__post_init__(self)
        given = {type(section): section for section in self.sections}
        complete = [given.pop(cls) if cls in given else cls() for cls in registered_sections()]
        object.__setattr__(self, "sections", (*complete, *given.values()))

    def validate(self) -> None:
        """Check the core settings' ranges and choices."""
        for names, valid, expected in _RANGES:
            for name in names:
                if not valid(getattr(self, name)):
                    raise bad_value(name, expected, getattr(self, name))
        for queue, count in self.WORKERS.items():
            if count < 0:
                expected = "a whole number of workers (0 or more)"
                raise bad_value(f"WORKERS[{queue!r}]", expected, count)
        if not _is_bind_address(self.PROMETHEUS_ADDRESS):
            where = "an IP address or host name to listen on, such as '127.0.0.1' or '0.0.0.0'"
            raise bad_value("PROMETHEUS_ADDRESS", where, self.PROMETHEUS_ADDRESS)
        if "." not in self.BACKEND and self.BACKEND not in plugins(BACKENDS_GROUP):
            path = "a dotted path such as 'dqueue.backends.sqlite.SQLiteBackend'"
            raise bad_value("BACKEND", f"a backend's name or {path}", self.BACKEND)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """Every setting's short name (``WORKERS``, ``BACKEND``, ...), the sections' too."""
        return tuple(all_setting_types())

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
        return cls().replace(**merged)

    def replace(self, **changes: Any) -> Settings:
        """Return a copy with ``changes`` (short names, the sections' too) applied and validated.

        Raises:
            TypeError: a name is no setting.
            ConfigurationError: a value is bad; the message names the setting.
        """
        given = self.given | frozenset(changes)
        sections = []
        for section in self.sections:
            own = {name: changes.pop(name) for name in section.names() if name in changes}
            sections.append(dataclasses.replace(section, **own) if own else section)
        return dataclasses.replace(self, **changes, sections=tuple(sections), given=given)

    def section(self, cls: type[S]) -> S:
        """The section of class ``cls`` (its defaults when it is not among ``sections``)."""
        for section in self.sections:
            if isinstance(section, cls):
                return section
        return cls()

    def backend_path(self, queue: str) -> str:
        """The dotted path of the backend that serves ``queue``."""
        return self.BACKEND_OVERRIDES.get(queue, self.BACKEND)

    def as_dict(self) -> dict[str, Any]:
        """Every setting, the sections' too, as ``{"DQUEUE_NAME": value}``, JSON-ready."""
        out = SettingsSection.as_dict(self)
        for section in self.sections:
            out.update(section.as_dict())
        return out


def all_setting_types() -> dict[str, Any]:
    """The type of every setting by short name: the core's, then each installed section's.

    Raises:
        ConfigurationError: a section declares a setting of the core or of another section.
    """
    types = dict(setting_types(Settings))
    owners = dict.fromkeys(types, "a core setting")  # who declared each setting
    for section in registered_sections():
        for name, hint in setting_types(section).items():
            if name in owners:
                raise ConfigurationError(
                    f"{PREFIX}{name} is {owners[name]}; settings section {section.__name__} "
                    "cannot declare it"
                )
            types[name], owners[name] = hint, f"declared by section {section.__name__}"
    return types


_LABEL = r"[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"  # "_": container service names
_HOST_NAME = re.compile(rf"{_LABEL}(\.{_LABEL})*")


def _is_bind_address(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return len(value) <= 253 and _HOST_NAME.fullmatch(value) is not None
    return True
