"""Counters, gauges and histograms, and the Prometheus text exposition format (0.0.4).

Standard library only (dqueue-core depends on nothing): no ``prometheus_client``.

.. code-block:: python

    from dqueue.metrics import Counter, Histogram, render

    jobs = Counter("dqueue_jobs_total", "Jobs settled.", ("queue", "outcome"))
    jobs.inc(("mail", "succeeded"))
    took = Histogram("dqueue_job_duration_seconds", "Run time.", ("queue",), (0.01, 0.1, 1.0))
    took.child(("mail",)).observe(0.042)
    text = render([jobs, took])

Updating a metric takes no lock: a value is a plain ``int``/``float`` in a dict or list, changed
under the GIL by the one thread that owns it (a worker runs jobs in one thread). Rendering, in
the HTTP server's thread, copies each dict or list first (a single C call, atomic under the GIL)
so that it never sees one change size under it. A metric changed from several threads at once
must be guarded by its owner (the worker's store error counter is).
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from typing import Final

__all__ = [
    "CONTENT_TYPE",
    "DURATION_BUCKETS",
    "LATENESS_BUCKETS",
    "Counter",
    "Gauge",
    "Histogram",
    "HistogramChild",
    "LabelCap",
    "Metric",
    "escape_help",
    "escape_label_value",
    "format_bound",
    "format_value",
    "render",
]

#: The ``Content-Type`` of the text exposition format.
CONTENT_TYPE: Final = "text/plain; version=0.0.4; charset=utf-8"

#: Job run times: 1 ms to 10 minutes.
DURATION_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
)  # fmt: skip
#: How late jobs start (start minus due time): 1 ms to an hour, since a backlog grows large.
LATENESS_BUCKETS: Final = (*DURATION_BUCKETS, 1800.0, 3600.0)


def escape_help(text: str) -> str:
    """A ``# HELP`` text: backslash and newline escaped."""
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def escape_label_value(value: str) -> str:
    """A label value: backslash, double quote and newline escaped."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as Prometheus writes it: ``3``, ``0.25``, ``+Inf``, ``-Inf``, ``NaN``."""
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [
        f'{name}="{escape_label_value(value)}"' for name, value in zip(names, values, strict=True)
    ]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


class Metric:
    """A metric family: a name, a help text, a type, label names and its samples."""

    kind: str = "untyped"

    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        self.name = name
        self.help = help_text
        self.labelnames = tuple(labelnames)

    def _check(self, labels: Sequence[str]) -> None:
        if len(labels) != len(self.labelnames):
            raise ValueError(
                f"{self.name} has labels {self.labelnames}, not {len(labels)} value(s)"
            )

    def header(self) -> list[str]:
        """The ``# HELP`` and ``# TYPE`` lines."""
        return [f"# HELP {self.name} {escape_help(self.help)}", f"# TYPE {self.name} {self.kind}"]

    def sample_lines(self) -> list[str]:
        """One line per sample."""
        raise NotImplementedError


class _Valued(Metric):
    def __init__(self, name: str, help_text: str, labelnames: Sequence[str] = ()) -> None:
        super().__init__(name, help_text, labelnames)
        self.values: dict[tuple[str, ...], float] = {}

    def get(self, labels: tuple[str, ...] = ()) -> float:
        """The current value for ``labels`` (0 if never set)."""
        return self.values.get(labels, 0)

    def sample_lines(self) -> list[str]:
        """One line per label set, in the order they first appeared."""
        values = self.values.copy()
        return [
            f"{self.name}{_labels(self.labelnames, labels)} {format_value(value)}"
            for labels, value in values.items()
        ]


class Counter(_Valued):
    """A value that only goes up (name it ``..._total``)."""

    kind = "counter"

    def inc(self, labels: tuple[str, ...] = (), amount: float = 1) -> None:
        """Add ``amount`` (1) to the value of ``labels``; no lock, see the module docstring.

        The hot path does not check ``labels`` against the label names: the caller builds it.
        """
        values = self.values
        values[labels] = values.get(labels, 0) + amount


class Gauge(_Valued):
    """A value that goes up and down, or is read at scrape time."""

    kind = "gauge"

    def set(self, labels: tuple[str, ...], value: float) -> None:
        """Set the value of ``labels``."""
        self._check(labels)
        self.values[labels] = value


class HistogramChild:
    """The buckets of one label set of a :class:`Histogram`; :meth:`observe` is the hot path."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        # Not cumulative here (one increment per observation); the last slot is +Inf.
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float) -> None:
        """Count ``value`` in the smallest bucket whose upper bound is ``>=`` it."""
        self.counts[bisect_left(self.bounds, value)] += 1
        self.sum += value


class Histogram(Metric):
    """Observations counted in buckets, with their sum and count.

    Args:
        buckets: upper bounds, increasing; ``+Inf`` is added.
    """

    kind = "histogram"

    def __init__(
        self,
        name: str,
        help_text: str,
        labelnames: Sequence[str] = (),
        buckets: Sequence[float] = DURATION_BUCKETS,
    ) -> None:
        super().__init__(name, help_text, labelnames)
        bounds = tuple(float(bound) for bound in buckets if not math.isinf(bound))
        if not bounds or list(bounds) != sorted(set(bounds)):
            raise ValueError(f"{name}: buckets must be increasing, not {tuple(buckets)}")
        self.bounds = bounds
        self.children: dict[tuple[str, ...], HistogramChild] = {}

    def child(self, labels: tuple[str, ...] = ()) -> HistogramChild:
        """The buckets of ``labels`` (made on first use); keep it to observe without lookups."""
        found = self.children.get(labels)
        if found is None:
            self._check(labels)
            found = self.children.setdefault(labels, HistogramChild(self.bounds))
        return found

    def observe(self, labels: tuple[str, ...], value: float) -> None:
        """Count ``value`` for ``labels``."""
        self.child(labels).observe(value)

    def sample_lines(self) -> list[str]:
        """``_bucket`` lines (cumulative, ending with ``le="+Inf"``), ``_sum`` and ``_count``."""
        lines: list[str] = []
        for labels, child in self.children.copy().items():
            counts = child.counts.copy()
            total = 0
            for bound, count in zip((*self.bounds, math.inf), counts, strict=True):
                total += count
                le = 'le="' + format_bound(bound) + '"'
                lines.append(f"{self.name}_bucket{_labels(self.labelnames, labels, le)} {total}")
            suffix = _labels(self.labelnames, labels)
            lines.append(f"{self.name}_sum{suffix} {format_value(child.sum)}")
            # The count is the +Inf bucket, so the two always agree within one scrape.
            lines.append(f"{self.name}_count{suffix} {total}")
        return lines


def format_bound(bound: float) -> str:
    """A bucket's ``le`` value: ``0.005``, ``1.0``, ``+Inf`` (as Prometheus' clients write it)."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


class LabelCap:
    """Keeps a label's distinct values under ``limit``: later new values become ``other``.

    Each label value is a time series in Prometheus; a task name per job is fine, but a
    program that registers tasks dynamically must not blow up the server.
    """

    __slots__ = ("limit", "other", "seen")

    def __init__(self, limit: int = 500, other: str = "other") -> None:
        self.limit = limit
        self.other = other
        self.seen: set[str] = set()

    def __call__(self, value: str) -> str:
        """``value`` itself if it is known or there is room for it, else ``other``."""
        seen = self.seen
        if value in seen:
            return value
        if len(seen) < self.limit:
            seen.add(value)
            return value
        return self.other


def render(metrics: Iterable[Metric]) -> str:
    """The text exposition of ``metrics``: each family's HELP, TYPE and samples."""
    lines: list[str] = []
    for metric in metrics:
        lines.extend(metric.header())
        lines.extend(metric.sample_lines())
    return "\n".join(lines) + "\n"
