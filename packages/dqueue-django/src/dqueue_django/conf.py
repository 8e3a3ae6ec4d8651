"""Django's settings as a layer of dqueue's settings.

dqueue keeps one typed settings object (:mod:`dqueue.settings`) built from layers: defaults,
environment, the framework, then ``--config FILE``. This module is the framework layer: every
``DQUEUE_*`` name in ``django.conf.settings``. It is read lazily, each time dqueue rebuilds its
settings, and Django's ``setting_changed`` signal (sent by ``override_settings``) makes dqueue
rebuild them, so tests can change ``DQUEUE_*`` settings the usual Django way.
"""

from __future__ import annotations

import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import Any

from dqueue import settings as dqueue_settings
from dqueue.settings import (
    PREFIX,
    Settings,
    SettingsSection,
    bad_value,
    environment_layer,
    get_settings,
)

__all__ = [
    "DjangoSettings",
    "config_file",
    "current_settings",
    "django_layer",
    "installed",
    "project_folder",
    "unknown_names",
]


@dataclass(frozen=True, slots=True, kw_only=True)
class DjangoSettings(SettingsSection):
    """dqueue-django's settings (transactions, outbox, app discovery); see its README.

    Registered with the entry point group ``dqueue.settings``; read it with
    ``settings.section(DjangoSettings)``.
    """

    ATOMIC_JOBS: bool = True
    ENQUEUE_ON_COMMIT: bool = True
    OUTBOX: bool = False
    OUTBOX_DATABASE: str = "default"
    IGNORE_APPS: tuple[str, ...] = ()

    def validate(self) -> None:
        """Refuse an empty outbox database alias."""
        if not self.OUTBOX_DATABASE:
            raise bad_value("OUTBOX_DATABASE", "a database alias such as 'default'", "")

    @classmethod
    def unread_settings_warning(cls) -> str | None:
        """Django's settings hold ``DQUEUE_*`` names while ``dqueue_django`` is no installed app."""
        if installed() or "django.conf" not in sys.modules:  # a plain script imports no Django
            return None
        from django.apps import apps
        from django.conf import settings

        if not settings.configured or not apps.apps_ready or apps.is_installed("dqueue_django"):
            return None
        names = sorted(name for name in dir(settings) if name.startswith(PREFIX))
        if not names:
            return None
        more = f" and {len(names) - 3} more" if len(names) > 3 else ""
        return (
            f"Django's settings set {', '.join(names[:3])}{more}, but dqueue is not reading them: "
            "'dqueue_django' is not in INSTALLED_APPS, so dqueue runs on its defaults and the "
            "environment (tasks run inline unless DQUEUE_BACKEND is set there). Add "
            "'dqueue_django' to INSTALLED_APPS"
        )


def project_folder() -> str | None:
    """Django's ``BASE_DIR`` (as ``startproject`` writes it), where relative paths point."""
    from django.conf import settings

    folder = getattr(settings, "BASE_DIR", None) if settings.configured else None
    return None if folder is None else os.fspath(folder)


def django_layer() -> dict[str, Any]:
    """Every ``DQUEUE_*`` value set in Django's settings, by full name."""
    from django.conf import settings

    if not settings.configured:
        return {}
    return {name: getattr(settings, name) for name in dir(settings) if name.startswith(PREFIX)}


#: Set by ``apps.install``. The hooks stay registered in the core for good (the core has no way
#: to remove them), so they step aside while dqueue-django is uninstalled (in tests).
_installed = False


def set_installed(installed: bool) -> None:
    """Record whether ``apps.install`` put Django in charge of dqueue (settings and hooks)."""
    global _installed
    _installed = installed


def installed() -> bool:
    """Whether Django's layer and dqueue-django's hooks are installed now."""
    return _installed


def current_settings() -> Settings:
    """The effective settings, with Django's even before ``dqueue_django`` is ready.

    A Django Tasks framework task is validated when its module is imported, which may happen
    before this app's ``ready()`` installed Django's layer; its backend reads this.

    Raises:
        ConfigurationError: a setting has a bad value.
    """
    if _installed:
        return get_settings()
    return Settings.from_layers([environment_layer(), django_layer()])


def unknown_names(layer: dict[str, Any] | None = None) -> list[str]:
    """``DQUEUE_*`` names in Django's settings that are no dqueue setting (typos), sorted."""
    known = {PREFIX + name for name in Settings.names()}
    names = django_layer() if layer is None else layer
    return sorted(name for name in names if name not in known)


@contextmanager
def config_file(path: str | os.PathLike[str] | None) -> Iterator[list[str]]:
    """Layer ``path`` (a ``--config`` file) over Django's settings for the block.

    Yields the warnings the file raised (unexpected names), so that a command can print them
    as lines rather than tracebacks. The layer is removed on exit: a management command run
    with ``call_command`` leaves the process's settings as it found them.

    Raises:
        ConfigurationError: the file is missing, fails to run, or sets a bad value.
    """
    if path is None:
        yield []
        return
    with ExitStack() as stack:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            stack.enter_context(dqueue_settings.config_file_applied(path))
        yield [str(item.message) for item in caught]
