"""Staff users of the test project's admin, logged in through Django's test client."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Permission, User
from django.test import Client

from dqueue_django.admin import MANAGE_PERMISSION


def login(
    username: str, *, staff: bool = True, superuser: bool = False, can_manage: bool = False
) -> Client:
    """A client logged in as a fresh user (``can_manage``: with the manage permission)."""
    user = User.objects.create_user(username, password="x", is_staff=staff)
    user.is_superuser = superuser
    user.save()
    if can_manage:
        app_label, codename = MANAGE_PERMISSION.split(".")
        user.user_permissions.add(
            Permission.objects.get(content_type__app_label=app_label, codename=codename)
        )
    client = Client()
    client.force_login(user)
    return client


def messages_of(response: Any) -> list[str]:
    """The ``messages`` lines a followed response shows."""
    return [str(message) for message in response.context["messages"]]
