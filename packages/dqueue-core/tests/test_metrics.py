"""The Prometheus text exposition format of dqueue.metrics, checked by an independent parser."""

from __future__ import annotations

import math

import pytest

from dqueue.metrics import (
    CONTENT_TYPE,
    DURATION_BUCKETS,
    LATENESS_BUCKETS,
    Counter,
    Gauge,
    Histogram,
    LabelCap,
    format_value,
    render,
)

from .prometheus_text import parse, value

# -- tests ---------------------------------------------------------------------------------------


def test_a_counter_renders_help_type_and_one_sample_per_label_set() -> None:
    jobs = Counter("dqueue_jobs_total", "Jobs settled.", ("queue", "outcome"))
    jobs.inc(("mail", "succeeded"))
    jobs.inc(("mail", "succeeded"))
    jobs.inc(("mail", "dead"), 3)
    [family] = parse(render([jobs])).values()
    assert (family.help, family.kind) == ("Jobs settled.", "counter")
    assert value(family, "dqueue_jobs_total", queue="mail", outcome="succeeded") == 2
    assert value(family, "dqueue_jobs_total", queue="mail", outcome="dead") == 3


def test_label_values_with_quotes_backslashes_and_newlines_are_escaped() -> None:
    gauge = Gauge("weird", "Label values from users.", ("name",))
    nasty = 'a "quoted" C:\\path\nsecond line'
    gauge.set((nasty,), 1)
    text = render([gauge])
    assert 'name="a \\"quoted\\" C:\\\\path\\nsecond line"' in text
    [family] = parse(text).values()
    assert family.samples == [("weird", {"name": nasty}, 1.0)]


def test_help_text_escapes_backslashes_and_newlines() -> None:
    gauge = Gauge("g", "first line\nsecond \\ line")
    gauge.set((), 0)
    text = render([gauge])
    assert text.startswith("# HELP g first line\\nsecond \\\\ line\n# TYPE g gauge\n")
    assert parse(text)["g"].help == "first line\nsecond \\ line"


def test_histogram_buckets_are_cumulative_and_end_with_inf_sum_and_count() -> None:
    histogram = Histogram("took_seconds", "Run time.", ("queue",), (0.1, 1.0, 10.0))
    child = histogram.child(("q",))
    for seconds in (0.05, 0.1, 0.5, 2.0, 2.0, 99.0):
        child.observe(seconds)
    [family] = parse(render([histogram])).values()
    assert family.kind == "histogram"
    buckets = [(lbl["le"], v) for n, lbl, v in family.samples if n == "took_seconds_bucket"]
    # A value equal to a bound counts in that bucket (le is "less than or equal").
    assert buckets == [("0.1", 2), ("1.0", 3), ("10.0", 5), ("+Inf", 6)]
    assert value(family, "took_seconds_sum", queue="q") == pytest.approx(103.65)
    assert value(family, "took_seconds_count", queue="q") == 6


def test_an_empty_histogram_child_renders_zero_in_every_bucket() -> None:
    histogram = Histogram("h", "Nothing yet.", (), DURATION_BUCKETS)
    histogram.child(())
    [family] = parse(render([histogram])).values()
    buckets = [v for n, _, v in family.samples if n == "h_bucket"]
    assert buckets == [0] * (len(DURATION_BUCKETS) + 1)
    assert value(family, "h_count") == 0


def test_histogram_buckets_must_increase() -> None:
    with pytest.raises(ValueError, match="increasing"):
        Histogram("h", "Bad.", (), (1.0, 0.5))


def test_duration_buckets_span_a_millisecond_to_ten_minutes() -> None:
    assert DURATION_BUCKETS[0] == 0.001
    assert DURATION_BUCKETS[-1] == 600.0
    assert LATENESS_BUCKETS[-1] == 3600.0
    assert list(DURATION_BUCKETS) == sorted(set(DURATION_BUCKETS))


def test_special_values_render_as_prometheus_spells_them() -> None:
    assert [format_value(v) for v in (3, 2.0, 0.25, math.inf, -math.inf)] == [
        "3",
        "2",
        "0.25",
        "+Inf",
        "-Inf",
    ]
    assert format_value(math.nan) == "NaN"


def test_several_families_render_in_order_each_under_its_own_header() -> None:
    first = Gauge("first", "One.")
    first.set((), 1)
    second = Counter("second_total", "Two.", ("x",))
    second.inc(("y",))
    families = parse(render([first, second]))
    assert list(families) == ["first", "second_total"]
    assert families["second_total"].samples == [("second_total", {"x": "y"}, 1.0)]


def test_a_gauge_refuses_the_wrong_number_of_label_values() -> None:
    gauge = Gauge("g", "Help.", ("queue",))
    with pytest.raises(ValueError, match="labels"):
        gauge.set(("a", "b"), 1)


def test_label_cap_folds_values_past_the_limit_into_other() -> None:
    cap = LabelCap(limit=2)
    assert [cap(name) for name in ("a", "b", "c", "a", "d")] == ["a", "b", "other", "a", "other"]


def test_content_type_is_the_text_format_version_0_0_4() -> None:
    assert CONTENT_TYPE.startswith("text/plain; version=0.0.4")
