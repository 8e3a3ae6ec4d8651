"""URLs of the test project."""

from __future__ import annotations

from django.contrib import admin
from django.urls import path
from dqtest_shop import views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("enqueue/", views.enqueue_record, name="enqueue-record"),
    path("enqueue-then-fail/", views.enqueue_then_fail, name="enqueue-then-fail"),
]
