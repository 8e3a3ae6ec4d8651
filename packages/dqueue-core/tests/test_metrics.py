"""A worker's metrics in the text exposition format, checked by an independent parser."""

from __future__ import annotations

import pytest

from dqueue import task
from dqueue.backends.base import Outcome, OutcomeKind
from dqueue.job import Job, new_job_id

from .prometheus_text import parse, value

pytest.importorskip("prometheus_client")

from dqueue.metrics import (  # noqa: E402
    DURATION_BUCKETS,
    LATENESS_BUCKETS,
    LabelCap,
    WorkerMetrics,
    metrics_route,  # noqa: E402
)


@task(queue="m")
def noop() -> None:
    pass


def ran(seconds: float, *, late_s: float = 0.0, task_name: str = noop.name) -> Outcome:
    job = Job(id=new_job_id(), task=task_name, queue="m", enqueued_at=0.0)
    started = late_s
    return Outcome(job=job, kind=OutcomeKind.ACK, started_at=started, finished_at=started + seconds)


def test_duration_buckets_are_cumulative_and_end_with_inf_sum_and_count() -> None:
    metrics = WorkerMetrics("m")
    for seconds in (0.0005, 0.001, 0.5, 2.0, 2.0, 999.0):
        metrics.job_finished(ran(seconds))
    family = parse(metrics.render())["dqueue_job_duration_seconds"]
    assert family.kind == "histogram"
    buckets = {lbl["le"]: v for n, lbl, v in family.samples if n.endswith("_bucket")}
    # A value equal to a bound counts in that bucket (le is "less than or equal").
    assert (buckets["0.001"], buckets["0.5"], buckets["2.5"], buckets["+Inf"]) == (2, 3, 5, 6)
    assert buckets["600.0"] == 5
    assert value(family, "dqueue_job_duration_seconds_sum", queue="m") == pytest.approx(1003.5015)
    assert value(family, "dqueue_job_duration_seconds_count", queue="m") == 6


def test_a_new_worker_renders_zero_in_every_bucket_and_every_store_operation() -> None:
    families = parse(WorkerMetrics("m").render())
    lateness = families["dqueue_job_lateness_seconds"]
    buckets = [v for n, _, v in lateness.samples if n.endswith("_bucket")]
    assert buckets == [0] * (len(LATENESS_BUCKETS) + 1)
    errors = families["dqueue_store_errors_total"]
    assert sorted(lbl["operation"] for _, lbl, _ in errors.samples) == [
        "beat",
        "recover",
        "renew",
        "reserve",
        "settle",
    ]
    assert value(families["dqueue_worker_busy"], "dqueue_worker_busy", queue="m") == 0


def test_task_names_with_quotes_backslashes_and_newlines_are_escaped() -> None:
    nasty = 'a "quoted" C:\\path\nsecond line'
    metrics = WorkerMetrics("m")
    metrics.settled([ran(0.1, task_name=nasty)], (), ())
    text = metrics.render()
    assert 'task="a \\"quoted\\" C:\\\\path\\nsecond line"' in text
    family = parse(text)["dqueue_jobs_total"]
    assert value(family, "dqueue_jobs_total", queue="m", task=nasty, outcome="succeeded") == 1


def test_duration_buckets_span_a_millisecond_to_ten_minutes() -> None:
    assert DURATION_BUCKETS[0] == 0.001
    assert DURATION_BUCKETS[-1] == 600.0
    assert LATENESS_BUCKETS[-1] == 3600.0
    assert list(DURATION_BUCKETS) == sorted(set(DURATION_BUCKETS))


def test_families_render_in_order_each_under_its_own_help_and_type() -> None:
    families = parse(WorkerMetrics("m").render())
    assert list(families) == [
        "dqueue_jobs_total",
        "dqueue_job_duration_seconds",
        "dqueue_job_lateness_seconds",
        "dqueue_worker_busy",
        "dqueue_store_errors_total",
    ]
    kinds = [family.kind for family in families.values()]
    assert kinds == ["counter", "histogram", "histogram", "gauge", "counter"]
    assert families["dqueue_worker_busy"].help == (
        "The jobs this worker runs now (1 while a job runs; more with async concurrency)."
    )


def test_label_cap_folds_values_past_the_limit_into_other() -> None:
    cap = LabelCap(limit=2)
    assert [cap(name) for name in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]


def test_metrics_are_served_in_the_text_format_version_0_0_4() -> None:
    response = metrics_route(WorkerMetrics("m").registry)()
    assert response.status == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    assert "dqueue_jobs_total" in parse(response.body.decode())
