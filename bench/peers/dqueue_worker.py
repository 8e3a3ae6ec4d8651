"""Run one dqueue worker through its Python API, for as long as ``python -m dqueue`` is missing.

    python -m peers.dqueue_worker QUEUE SLOT

The benchmarks prefer the real command (``python -m dqueue worker QUEUE SLOT --tasks ...``);
this stand-in builds the same :class:`dqueue.worker.Worker` from the ``DQUEUE_*`` environment.
"""

from __future__ import annotations

import logging
import sys

import peers.dqueue_tasks  # noqa: F401 - registers the task
from dqueue.settings import get_settings
from dqueue.worker import Worker

if __name__ == "__main__":
    settings = get_settings()
    logging.basicConfig(level=settings.LOG_LEVEL)
    sys.exit(Worker(settings, sys.argv[1], int(sys.argv[2])).run())
