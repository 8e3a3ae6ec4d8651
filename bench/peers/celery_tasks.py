"""Celery's no-op task on its Redis broker; no result backend (results ignored)."""

from __future__ import annotations

import os

from celery import Celery

from peers import probe

app = Celery("bench", broker=os.environ["BENCH_REDIS_URL"])
app.conf.update(
    task_default_queue="bench",
    task_ignore_result=True,
    broker_connection_retry_on_startup=True,
    worker_hijack_root_logger=False,
)


@app.task(name="bench.noop")
def noop(due: float | None = None) -> None:
    probe.record(due)
