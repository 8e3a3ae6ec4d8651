"""The test project's settings with mistakes, for ``manage.py check``."""

from __future__ import annotations

from .settings import *  # noqa: F403

DQUEUE_PREFETCH = "lots"
DQUEUE_WORKERS = {"default": -1}
DQUEUE_WORKRES = {"default": 2}
