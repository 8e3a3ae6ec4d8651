from __future__ import annotations

from django.apps import AppConfig


class ShopConfig(AppConfig):
    name = "dqtest_shop"
    label = "shop"
    default_auto_field = "django.db.models.AutoField"

    def ready(self) -> None:
        import django

        if django.VERSION >= (6, 0):
            from . import signals

            signals.connect()
