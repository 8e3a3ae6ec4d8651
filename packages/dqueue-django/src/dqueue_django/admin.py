"""dqueue's pages in the Django admin: "Queues" under the dqueue app, without a model.

The queues live in the queue store, not in Django's database, so there is no model to
register. :func:`register` adds the pages' URLs to an admin site and a "Queues" entry to its
index and sidebar (by wrapping the site's ``get_urls`` and ``get_app_list``, the two methods
Django documents for extending a site). ``django.contrib.admin`` imports this module at start
up and registers the default site; call :func:`register` for any other site.

Any active staff user may look at ids, task names, counts, times and exception types. Acting
(retry, purge, pause, resume, clear, cancel, run now) and seeing job arguments, failure
messages and tracebacks
needs the permission ``dqueue_django.manage_queues``: superusers have it; give it to
a user or group in the admin ("dqueue | queue | Can manage queues ...") or through any
authentication backend.
"""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig, apps
from django.contrib import admin
from django.contrib.admin import AdminSite
from django.db import DEFAULT_DB_ALIAS, router
from django.db.models.signals import post_migrate
from django.http import HttpRequest
from django.urls import URLPattern, URLResolver, reverse

from .admin_jobs import JobViews
from .admin_views import MANAGE_PERMISSION, QueueViews, can_manage

__all__ = ["MANAGE_PERMISSION", "create_manage_permission", "register"]

APP_LABEL = "dqueue_django"
# The content type the permission hangs on: there is no model, only this name.
PERMISSION_MODEL = "queue"
PERMISSION_NAME = "Can manage queues (retry, purge, pause, resume, clear) and see job arguments"

_MARK = "_dqueue_queue_pages"


def register(site: AdminSite) -> None:
    """Add the queue pages to ``site`` (idempotent)."""
    if getattr(site, _MARK, False):
        return
    views = QueueViews(site)
    job_views = JobViews(site)
    original_urls = site.get_urls
    original_app_list = site.get_app_list

    def get_urls() -> list[URLPattern | URLResolver]:
        # Before the site's own: its catch-all views would take our paths otherwise.
        return [*views.urls(), *job_views.urls(), *original_urls()]

    def get_app_list(request: HttpRequest, app_label: str | None = None) -> list[Any]:
        app_list: list[Any] = original_app_list(request, app_label)
        if app_label in (None, APP_LABEL):
            _add_queues_entry(site, request, app_list)
        return app_list

    # Instance attributes win over the class's methods for this site only.
    setattr(site, "get_urls", get_urls)  # noqa: B010 - mypy refuses assigning to a method
    setattr(site, "get_app_list", get_app_list)  # noqa: B010
    setattr(site, _MARK, True)


def _add_queues_entry(site: AdminSite, request: HttpRequest, app_list: list[Any]) -> None:
    url = reverse("admin:dqueue_queues", current_app=site.name)
    manage = can_manage(request)
    entry = {
        "model": None,
        "name": "Queues",
        "object_name": "Queue",
        "perms": {"add": False, "change": manage, "delete": False, "view": True},
        "admin_url": url,
        "add_url": None,
        "view_only": not manage,
    }
    for app in app_list:
        if app.get("app_label") == APP_LABEL:
            app["models"].append(entry)
            app["models"].sort(key=lambda model: model["name"])
            return
    app_list.append(
        {
            "name": apps.get_app_config(APP_LABEL).verbose_name,
            "app_label": APP_LABEL,
            "app_url": url,
            "has_module_perms": True,
            "models": [entry],
        }
    )
    app_list.sort(key=lambda app: app["name"].lower())


def create_manage_permission(
    app_config: AppConfig, using: str = DEFAULT_DB_ALIAS, **kwargs: Any
) -> None:
    """Create ``dqueue_django.manage_queues`` after ``migrate`` (a ``post_migrate`` receiver).

    Django creates permissions for models only; this one has none, so it is created the same
    way, once the auth tables exist.
    """
    if app_config.label != "auth" or not apps.is_installed("django.contrib.contenttypes"):
        return
    from django.contrib.auth.models import Permission
    from django.contrib.contenttypes.models import ContentType

    if not router.allow_migrate_model(using, Permission):
        return
    content_type, _ = ContentType.objects.db_manager(using).get_or_create(
        app_label=APP_LABEL, model=PERMISSION_MODEL
    )
    Permission.objects.db_manager(using).get_or_create(
        content_type=content_type,
        codename=MANAGE_PERMISSION.split(".", 1)[1],
        defaults={"name": PERMISSION_NAME},
    )


post_migrate.connect(create_manage_permission, dispatch_uid="dqueue_django.manage_permission")
register(admin.site)
