"""Settings of dqueue-django's test project.

Everything a test varies comes from ``DQTEST_*`` environment variables, so that the test
process and the ``manage.py`` subprocesses it starts share one configuration:

- ``DQTEST_DB``: the Django database (an SQLite file shared by all processes of a test);
- ``DQTEST_BACKEND``: ``sqlite`` (default), ``redis``, ``reliable_redis``, ``memory`` or ``sync``;
- ``DQTEST_QUEUE_DB``: the SQLite backend's file; ``DQTEST_REDIS_URL`` / ``DQTEST_REDIS_PREFIX``;
- ``DQTEST_WORKERS``: ``DQUEUE_WORKERS`` as JSON;
- ``DQTEST_CRON``: ``1`` turns on the app's ``cron.py`` entry (a command every second).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import django

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "dqueue-django-tests-only"
DEBUG = False
ALLOWED_HOSTS = ["*"]
USE_TZ = True
TIME_ZONE = "UTC"
ROOT_URLCONF = "dqtest_site.urls"
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "dqueue_django",
    "dqtest_shop",
]
# What the admin (dqueue's queue pages) needs; nothing else in the project uses them.
MIDDLEWARE: list[str] = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
]
TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]
STATIC_URL = "static/"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DQTEST_DB", str(Path(tempfile.gettempdir()) / "dqtest.sqlite3")),
        # Several processes write this file: wait for locks, and let readers not block writers.
        "OPTIONS": {"timeout": 30, "init_command": "PRAGMA journal_mode=WAL;"},
        "TEST": {"NAME": os.environ.get("DQTEST_DB")},
    },
    # A second database, for enqueues inside transactions of several databases.
    "other": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get(
            "DQTEST_DB_OTHER", str(Path(tempfile.gettempdir()) / "dqtest-other.sqlite3")
        ),
        "OPTIONS": {"timeout": 30},
    },
}

_BACKENDS = {
    "sqlite": "dqueue.backends.sqlite.SQLiteBackend",
    "redis": "dqueue.backends.redis.RedisBackend",
    "reliable_redis": "dqueue.backends.reliable_redis.ReliableRedisBackend",
    "memory": "dqueue.backends.memory.MemoryBackend",
    "sync": "dqueue.backends.synchronous.SynchronousBackend",
}
DQUEUE_BACKEND = _BACKENDS[os.environ.get("DQTEST_BACKEND", "sqlite")]
DQUEUE_SQLITE_PATH = os.environ.get(
    "DQTEST_QUEUE_DB", str(Path(tempfile.gettempdir()) / "dqtest-queue.sqlite3")
)
DQUEUE_REDIS_URL = os.environ.get("DQTEST_REDIS_URL")
DQUEUE_REDIS_PREFIX = os.environ.get("DQTEST_REDIS_PREFIX", "dqtest")
DQUEUE_WORKERS = json.loads(os.environ.get("DQTEST_WORKERS", '{"default": 1}'))
DQUEUE_RETRY_BACKOFF = 0.1
DQUEUE_LEASE_SECONDS = 10.0
DQUEUE_SHUTDOWN_TIMEOUT = 10.0

if django.VERSION >= (6, 0):
    TASKS = {
        "default": {
            "BACKEND": "dqueue_django.tasks_backend.DQueueTaskBackend",
            "QUEUES": ["default", "django-tasks"],
            "OPTIONS": {"RESULT_TTL": 600},
        }
    }
    # Workers know the Django tasks of the modules imported at start, never by a job's name.
    DQUEUE_TASKS = ["dqtest_shop.django_tasks"]

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"dqueue": {"handlers": ["console"], "level": "INFO"}},
}
