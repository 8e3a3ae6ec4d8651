"""What ``dqueue status``, ``dqueue configuration`` and ``dqueue dead list`` print.

Each report is built once by :mod:`dqueue.ops` (``--json`` prints its data) and rendered as a
plain text table otherwise, so the two never disagree. The Django commands print the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .backends.base import DeadLetter
from .clock import to_datetime
from .ops.inspection import QueueStatus, failure_summary, sqlite_file
from .pool import RunnerPlan
from .settings import Settings
from .tables import table

__all__ = [
    "configuration_data",
    "render_configuration",
    "render_dead_letters",
    "render_sqlite_file",
    "render_status",
]


def _number(value: float | None) -> str:
    return "-" if value is None else f"{value:g}"


def _pair(p50: float | None, p99: float | None) -> str:
    return "-" if p50 is None else f"{_number(p50)}/{_number(p99)}"


def render_status(rows: Sequence[QueueStatus]) -> str:
    """Queue statuses as a table; a column "node" when a store says where it keeps queues."""
    if not rows:
        return "No queues."
    located = any(row.location for row in rows)
    header = ["queue", *(["node"] if located else [])]
    header += ["ready", "delayed", "in flight", "dead", "paused until"]
    header += ["late 5m p50/p99 ms", "late 1h p50/p99 ms"]
    cells = [
        [
            row.queue,
            *([row.location or "-"] if located else []),
            str(row.ready),
            str(row.delayed),
            str(row.in_flight),
            str(row.dead),
            "until resumed" if row.paused_indefinitely else row.to_dict()["paused_until"] or "-",
            _pair(row.lateness_p50_ms, row.lateness_p99_ms),
            _pair(row.lateness_1h_p50_ms, row.lateness_1h_p99_ms),
        ]
        for row in rows
    ]
    right = {1, 2, 3, 4, 6, 7}
    shown = table(header, cells, right={n + 1 for n in right} if located else right)
    warnings = dict.fromkeys(warning for row in rows for warning in row.warnings)
    return "\n".join([shown, *(f"WARNING: {warning}" for warning in warnings)])


def configuration_data(
    plan: RunnerPlan, settings: Settings, *, services: Sequence[str]
) -> dict[str, Any]:
    """What a runner with ``plan`` would run here, as JSON-ready data.

    Backends are shown by class name (``SQLiteBackend``): the dotted paths are settings.
    """
    here = plan.here
    sqlite = sqlite_file(settings, plan.counts)
    return {
        "mode": "exact" if plan.exact else "pooled",
        "machine": plan.machine,
        "machines": plan.machines,
        "only_queue": plan.only_queue,
        "queues": [
            {
                "queue": queue,
                "backend": settings.backend_path(queue).rsplit(".", 1)[-1],
                "pool": count,
                "here": here.get(queue, 0),
                "slots": [slot.number for slot in plan.slots if slot.queue == queue],
            }
            for queue, count in plan.counts.items()
        ],
        "middleware": list(settings.MIDDLEWARE),
        "services": list(services) if plan.run_services else [],
        "sqlite_path": None if sqlite is None else sqlite.path,
        "path_notes": [] if sqlite is None else list(sqlite.notes),
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
    shown = table(["queue", "backend", "pool", "here", "slots here"], cells, right={2, 3})
    lines = [title, "", shown if cells else "No queues."]
    if data.get("sqlite_path"):
        lines += ["", *render_sqlite_file(data["sqlite_path"], data["path_notes"])]
    lines += ["", "Middleware:"]
    lines += [f" * {path}" for path in data["middleware"]] or [" (none)"]
    lines += ["", "Services:"]
    lines += [f" * {name}" for name in data["services"]] or [" (none)"]
    return "\n".join(lines)


def render_sqlite_file(path: str, notes: Sequence[str]) -> list[str]:
    """Where the SQLite file is (absolute), and how a relative setting was resolved."""
    return [f"SQLite file: {path}", *(f"  ({note})" for note in notes)]


def render_dead_letters(letters: Sequence[DeadLetter]) -> str:
    """Dead letters as a table, one line per letter (arguments are not shown)."""
    if not letters:
        return "No dead letters."
    cells = [
        [
            letter.job.id,
            letter.job.task,
            to_datetime(letter.died_at).isoformat(timespec="seconds"),
            f"{letter.job.attempt}/{letter.job.max_attempts}",
            failure_summary(letter.failure)[:120],
        ]
        for letter in letters
    ]
    return table(["id", "task", "died at", "attempt", "failure"], cells, right=set())
