"""What ``dqueue status``, ``dqueue configuration`` and ``dqueue dead list`` print.

Each report is built once as JSON-ready data (``--json`` prints that) and rendered as a plain
text table otherwise, so the two never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .backends.base import DeadLetter, QueueCounts
from .backends.common import percentile
from .clock import to_datetime
from .pool import RunnerPlan

__all__ = [
    "configuration_data",
    "dead_letters_data",
    "render_configuration",
    "render_dead_letters",
    "render_status",
    "status_data",
]


def _iso(epoch: float | None) -> str | None:
    return None if epoch is None else to_datetime(epoch).isoformat(timespec="seconds")


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def status_data(counts: Sequence[QueueCounts], backends: Mapping[str, str]) -> list[dict[str, Any]]:
    """One dictionary per queue: its backend, counts, pause and lateness percentiles (ms)."""
    rows = []
    for item in counts:
        lateness = item.recent_lateness
        rows.append(
            {
                "queue": item.queue,
                "backend": backends.get(item.queue, ""),
                "ready": item.ready,
                "delayed": item.delayed,
                "in_flight": item.in_flight,
                "dead": item.dead,
                "paused_until": _iso(item.paused_until),
                "lateness_p50_ms": _ms(percentile(lateness, 0.5)),
                "lateness_p99_ms": _ms(percentile(lateness, 0.99)),
                "lateness_samples": len(lateness),
            }
        )
    return rows


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    widths = [len(title) for title in header]
    for row in rows:
        widths = [max(width, len(cell)) for width, cell in zip(widths, row, strict=True)]

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(width) if index in right else cell.ljust(width)
            for index, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(header), line(["-" * width for width in widths]), *map(line, rows)])


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def render_status(rows: Sequence[Mapping[str, Any]]) -> str:
    """``status_data`` as a table."""
    if not rows:
        return "No queues."
    header = ["queue", "ready", "delayed", "in flight", "dead", "paused until",
              "late p50 ms", "late p99 ms"]  # fmt: skip
    cells = [
        [
            str(row["queue"]),
            str(row["ready"]),
            str(row["delayed"]),
            str(row["in_flight"]),
            str(row["dead"]),
            row["paused_until"] or "-",
            _number(row["lateness_p50_ms"]),
            _number(row["lateness_p99_ms"]),
        ]
        for row in rows
    ]
    return _table(header, cells, right={1, 2, 3, 4, 6, 7})


def configuration_data(
    plan: RunnerPlan,
    backends: Mapping[str, str],
    *,
    middleware: Sequence[str],
    services: Sequence[str],
) -> dict[str, Any]:
    """What a runner with ``plan`` would run here, as JSON-ready data."""
    here = plan.here
    return {
        "mode": "exact" if plan.exact else "pooled",
        "machine": plan.machine,
        "machines": plan.machines,
        "only_queue": plan.only_queue,
        "queues": [
            {
                "queue": queue,
                "backend": backends.get(queue, ""),
                "pool": count,
                "here": here.get(queue, 0),
                "slots": [slot.number for slot in plan.slots if slot.queue == queue],
            }
            for queue, count in plan.counts.items()
        ],
        "middleware": list(middleware),
        "services": list(services) if plan.run_services else [],
    }


def render_configuration(data: Mapping[str, Any]) -> str:
    """``configuration_data`` as text."""
    if data["mode"] == "exact":
        title = "dqueue configuration: exact configuration (every worker here, no services)"
    else:
        title = f"dqueue configuration: machine {data['machine']} of {data['machines']}"
        if data["only_queue"] is not None:
            title += f", only queue {data['only_queue']}"
    cells = [
        [
            row["queue"],
            row["backend"],
            str(row["pool"]),
            str(row["here"]),
            ", ".join(str(number) for number in row["slots"]) or "-",
        ]
        for row in data["queues"]
    ]
    table = _table(["queue", "backend", "pool", "here", "slots here"], cells, right={2, 3})
    lines = [title, "", table if cells else "No queues.", "", "Middleware:"]
    lines += [f" * {path}" for path in data["middleware"]] or [" (none)"]
    lines += ["", "Services:"]
    lines += [f" * {name}" for name in data["services"]] or [" (none)"]
    return "\n".join(lines)


def dead_letters_data(letters: Sequence[DeadLetter]) -> list[dict[str, Any]]:
    """Dead letters as JSON-ready data, newest first, with their failure and raw payload."""
    return [
        {
            "id": letter.job.id,
            "task": letter.job.task,
            "queue": letter.job.queue,
            "attempt": letter.job.attempt,
            "max_attempts": letter.job.max_attempts,
            "died_at": _iso(letter.died_at),
            "failure": letter.failure.to_dict(),
            "args": list(letter.job.args),
            "kwargs": dict(letter.job.kwargs),
            "raw": letter.raw,
        }
        for letter in letters
    ]


def render_dead_letters(rows: Sequence[Mapping[str, Any]]) -> str:
    """``dead_letters_data`` as a table, one line per letter (arguments are not shown)."""
    if not rows:
        return "No dead letters."
    cells = []
    for row in rows:
        failure = row["failure"]
        kind = str(failure["exception_type"]).rsplit(".", 1)[-1]
        reason = f"{kind}: {failure['message']}" if failure["message"] else kind
        cells.append(
            [
                row["id"],
                row["task"],
                str(row["died_at"]),
                f"{row['attempt']}/{row['max_attempts']}",
                reason.splitlines()[0][:120] if reason else "",
            ]
        )
    return _table(["id", "task", "died at", "attempt", "failure"], cells, right=set())
