"""The ``dqueue`` command line: options and subcommands (handlers live beside this module)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any, NoReturn

from .._version import __version__
from ..backends.inspection import JobState
from ..errors import InvalidTime, UsageError
from ..logs import LOG_LEVELS
from ..ops.durations import parse_duration
from ..ops.jobs import STATE_NAMES, parse_state
from ..ops.plans import PlanOptions
from ..settings import Settings

__all__ = [
    "add_cancel_arguments",
    "add_dead_list_options",
    "add_job_arguments",
    "add_jobs_arguments",
    "add_pause_arguments",
    "add_plan_options",
    "add_run_now_arguments",
    "add_status_arguments",
    "add_worker_arguments",
    "add_workers_options",
    "build_parser",
    "plan_options",
    "positive_int",
    "tcp_port",
    "worker_settings",
]


class _Parser(argparse.ArgumentParser):
    """An argument parser whose errors are one line (``main`` prints them), not usage + exit."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _log_level(value: str) -> str:
    level = value.upper()
    if level not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"must be one of {', '.join(LOG_LEVELS)}")
    return level


def _whole_number(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None


def positive_int(value: str) -> int:
    """An argparse type: a whole number, 1 or more."""
    number = _whole_number(value)
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {number}")
    return number


def tcp_port(value: str) -> int:
    """An argparse type: a TCP port, 1 to 65535."""
    number = _whole_number(value)
    if not 1 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"must be a TCP port (1-65535), not {number}")
    return number


def _seconds(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number of seconds") from None
    if not number >= 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, not {value}")
    return number


def _add_global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    # On subcommands the defaults are suppressed, so `dqueue --config f worker q` and
    # `dqueue worker q --config f` both work and neither clobbers the other.
    default: Any = argparse.SUPPRESS if suppress else None
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--config",
        metavar="FILE",
        default=default,
        help="a python settings file layered over the environment (DQUEUE_* names)",
    )
    group.add_argument(
        "--tasks",
        metavar="MODULE",
        action="append",
        default=argparse.SUPPRESS if suppress else [],
        help="import MODULE to register its tasks (repeatable; also DQUEUE_TASKS)",
    )
    group.add_argument(
        "--log-level",
        metavar="LEVEL",
        type=_log_level,
        default=default,
        help="DEBUG, INFO, WARNING, ERROR or CRITICAL (DQUEUE_LOG_LEVEL, INFO)",
    )


def add_pause_arguments(
    parser: argparse.ArgumentParser,
    *,
    until_help: str = "an aware time, e.g. 2026-11-27T18:00:00+00:00",
) -> None:
    """``QUEUE [--for DURATION | --until TIME]``, for ``dqueue pause`` and ``queue_pause``."""
    parser.add_argument("queue")
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--for",
        dest="for_",
        metavar="DURATION",
        help="seconds (90) or days/hours/minutes/seconds (1h30m, 1.5h, 45s, 2d)",
    )
    when.add_argument("--until", metavar="ISO8601", help=until_help)


def _job_state(value: str) -> JobState:
    try:
        return parse_state(value)
    except UsageError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_jobs_arguments(parser: argparse.ArgumentParser) -> None:
    """``QUEUE [--state S] [--limit N] [--cursor C] [--json]``, for ``jobs`` and ``queue_jobs``."""
    parser.add_argument("queue")
    parser.add_argument(
        "--state",
        type=_job_state,
        default=JobState.READY,
        metavar="STATE",
        help=f"{', '.join(STATE_NAMES)} (ready)",
    )
    parser.add_argument("--limit", type=positive_int, default=20, help="how many (20)")
    parser.add_argument(
        "--cursor", help="where the next page starts, as the previous page printed it"
    )
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_job_arguments(parser: argparse.ArgumentParser) -> None:
    """``ID [--json]``, for ``job`` and ``queue_job``."""
    parser.add_argument("id", metavar="ID", help="the job's id (in any queue)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def add_cancel_arguments(parser: argparse.ArgumentParser) -> None:
    """``ID...``, for ``cancel`` and ``queue_cancel``."""
    parser.add_argument("ids", nargs="+", metavar="ID", help="job ids (in any queue)")


def add_run_now_arguments(
    parser: argparse.ArgumentParser,
    *,
    at_help: str = "an aware time, e.g. 2026-11-27T18:00:00+00:00",
) -> None:
    """``ID... [--in DURATION | --at TIME]``, for ``run-now`` and ``queue_run_now``."""
    parser.add_argument("ids", nargs="+", metavar="ID", help="job ids (in any queue)")
    when = parser.add_mutually_exclusive_group()
    when.add_argument(
        "--in",
        dest="in_",
        metavar="DURATION",
        help="due after this long instead of now: 90, 45m, 1h30m, 1.5h, 2d",
    )
    when.add_argument("--at", metavar="ISO8601", help=f"due at this time instead of now: {at_help}")


def add_worker_arguments(
    parser: argparse.ArgumentParser, *, metrics_port: tuple[str, ...] = ("--metrics-port",)
) -> None:
    """The options of ``dqueue worker`` and ``queue_worker``: ``QUEUE [SLOT] [--burst] ...``.

    ``--async-concurrency`` changes a setting: :func:`worker_settings` applies it.

    ``metrics_port``: the option's spellings (``queue_worker`` also takes ``--prometheus-port``).
    """
    parser.add_argument("queue", help="the queue to serve")
    parser.add_argument(
        "slot",
        nargs="?",
        type=positive_int,
        default=1,
        help="this worker's number within its queue (1)",
    )
    parser.add_argument("--burst", action="store_true", help="exit once the queue has nothing due")
    parser.add_argument(
        *metrics_port,
        dest="metrics_port",
        type=tcp_port,
        metavar="PORT",
        help="serve Prometheus metrics on this port (the runner passes one when "
        "DQUEUE_ENABLE_PROMETHEUS is on)",
    )
    parser.add_argument(
        "--async-concurrency",
        type=positive_int,
        metavar="N",
        help="run up to N jobs of async def tasks at once on one event loop "
        "(DQUEUE_ASYNC_CONCURRENCY; 1: one job at a time)",
    )


def worker_settings(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """``settings`` with what the :func:`add_worker_arguments` options given in ``values`` set."""
    if values.get("async_concurrency") is None:
        return settings
    return settings.replace(ASYNC_CONCURRENCY=values["async_concurrency"])


def add_dead_list_options(parser: argparse.ArgumentParser) -> None:
    """The options of ``dead list`` and of ``queue_dead``: ``--limit``, ``--json``, tracebacks."""
    parser.add_argument("--limit", type=positive_int, default=20, help="how many to list (20)")
    parser.add_argument("--json", action="store_true", help="list as JSON")
    parser.add_argument(
        "--failure-tracebacks", action="store_true", help="list with each failure's traceback"
    )


def _interval(value: str) -> float:
    try:
        return parse_duration(value).total_seconds()
    except InvalidTime as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_status_arguments(parser: argparse.ArgumentParser) -> None:
    """``[QUEUE...] [--json] [--watch] [--interval D]``, for ``status`` and ``queue_status``."""
    parser.add_argument("queues", nargs="*", metavar="QUEUE", help="queues to show (all)")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--watch",
        action="store_true",
        help="show it again every interval until Ctrl-C: redrawn in place on a terminal, "
        "else each snapshot after the last, a blank line between them (for a log); with "
        "--json, one JSON document a line",
    )
    parser.add_argument(
        "--interval",
        type=_interval,
        metavar="DURATION",
        help="time between two snapshots, implies --watch: 5, 0.5, 30s, 1m (2)",
    )


def add_workers_options(parser: argparse.ArgumentParser) -> None:
    """``[QUEUE...] [--json]``, for ``dqueue workers`` and ``queue_workers``."""
    parser.add_argument("queues", nargs="*", metavar="QUEUE", help="queues to show (all)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def build_parser() -> argparse.ArgumentParser:
    """The parser; the subcommand's name is the namespace's ``command``."""
    parser = _Parser(
        prog="dqueue",
        description="dqueue: a delayed task and message queue. Run workers, inspect and "
        "control queues, try the demo.",
    )
    parser.add_argument("--version", action="version", version=f"dqueue {__version__}")
    _add_global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        _add_global_options(sub, suppress=True)
        return sub

    runner = command("runner", "run this machine's share of the worker pool")
    add_plan_options(runner)

    add_worker_arguments(command("worker", "run one worker in the foreground"))

    configuration = command("configuration", "show what a runner here would run")
    add_plan_options(configuration)
    configuration.add_argument("--json", action="store_true", help="print JSON")

    add_status_arguments(command("status", "show jobs per state, pauses and lateness of queues"))

    add_workers_options(command("workers", "list the live workers: their current job and counts"))

    add_pause_arguments(command("pause", "stop handing out jobs of a queue everywhere for a while"))
    command("resume", "hand out jobs of a paused queue again").add_argument("queue")

    clear = command("clear", "delete every waiting (ready and delayed) job of a queue")
    clear.add_argument("queue")
    clear.add_argument("--yes", action="store_true", help="do not ask for confirmation")

    dedup = command("deduplicate", "remove waiting jobs identical to an older waiting job")
    dedup.add_argument("queue")

    dead = command("dead", "list, retry or purge dead letters")
    dead_commands = dead.add_subparsers(dest="dead_command", metavar="ACTION", parser_class=_Parser)
    dead_commands.required = True
    dead_list = dead_commands.add_parser("list", help="list the newest dead letters")
    dead_list.add_argument("queue")
    add_dead_list_options(dead_list)
    for action, help_text in (
        ("retry", "put dead letters back with fresh attempts"),
        ("purge", "delete dead letters"),
    ):
        sub = dead_commands.add_parser(action, help=help_text)
        sub.add_argument("queue")
        sub.add_argument("ids", nargs="*", metavar="ID", help="job ids")
        sub.add_argument("--all", action="store_true", help="every dead letter of the queue")
        if action == "purge":
            sub.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    for sub in dead_commands.choices.values():
        _add_global_options(sub, suppress=True)

    add_jobs_arguments(command("jobs", "list the jobs of a queue in one state, in due order"))
    add_job_arguments(command("job", "show one job: task, arguments, due time, failures, result"))
    add_cancel_arguments(
        command("cancel", "cancel jobs: a waiting one never runs, a running one is not retried")
    )
    add_run_now_arguments(command("run-now", "make waiting jobs due now (or later: --in, --at)"))

    enqueue = command("enqueue", "enqueue a job of a registered task and print its id")
    enqueue.add_argument("task", help="the task's registered name (module.function)")
    enqueue.add_argument("--args", default="[]", metavar="JSON", help="a JSON list")
    enqueue.add_argument("--kwargs", default="{}", metavar="JSON", help="a JSON object")
    enqueue.add_argument("--delay", type=_seconds, metavar="SECONDS", help="run after a delay")
    enqueue.add_argument("--queue", help="send to this queue instead of the task's")

    demo = command("demo", "run thousands of delayed jobs through SQLite and report")
    demo.add_argument("--jobs", type=positive_int, default=3000, help="how many jobs (3000)")
    demo.add_argument("--workers", type=positive_int, default=4, help="worker processes (4)")
    demo.add_argument(
        "--max-delay",
        type=_seconds,
        default=3.0,
        metavar="SECONDS",
        help="half the jobs are due at once, the others over this many seconds after 1 s (3)",
    )
    demo.add_argument("--path", metavar="FILE", help="the SQLite file (a temporary one by default)")
    return parser


def add_plan_options(parser: argparse.ArgumentParser) -> None:
    """The runner's options, for ``dqueue runner`` and ``manage.py queue_runner`` alike."""
    parser.add_argument(
        "--machine",
        type=positive_int,
        metavar="N",
        help="this machine's number in the pool (1..M)",
    )
    parser.add_argument(
        "--of", type=positive_int, metavar="M", help="how many machines share the pool"
    )
    parser.add_argument(
        "--exact-configuration",
        action="store_true",
        help="run the --config file's DQUEUE_WORKERS exactly, here; no cron",
    )
    parser.add_argument(
        "--only-queue", metavar="QUEUE", help="run only this queue's share of the pool"
    )


def plan_options(values: Mapping[str, Any]) -> PlanOptions:
    """The :func:`add_plan_options` values (and ``config``) of parsed arguments."""
    return PlanOptions(
        machine=values.get("machine"),
        machines=values.get("of"),
        exact=bool(values.get("exact_configuration")),
        only_queue=values.get("only_queue"),
        config=values.get("config"),
    )
