"""Commands that inspect and control queues: status, pause, resume, clear, dead, enqueue.

What they do is :mod:`dqueue.ops`; these functions read the options and print the results.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from .. import ops
from ..errors import Aborted, DQueueError, InvalidTime, JobFailed, UsageError
from ..job import JobFailure
from ..registry import REGISTRY
from ..settings import Settings
from ..status import render_dead_letters, render_status
from ..task import Task

__all__ = ["clear", "dead", "deduplicate", "enqueue", "pause", "resume", "status"]


def _confirm(question: str, *, what: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to {what} without --yes (no terminal to ask)")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Aborted("aborted; nothing changed")


def status(args: argparse.Namespace) -> int:
    """``dqueue status [QUEUE...]``."""
    settings: Settings = args.settings
    for queue in args.queues:
        ops.check_queue(settings, queue)
    queues = args.queues or ops.list_queues(settings).queues
    rows = ops.queue_status(settings, queues)
    if args.json:
        # The short class name (SQLiteBackend), as the status table of the first version had it.
        data = [{**row.to_dict(), "backend": row.backend.rsplit(".", 1)[-1]} for row in rows]
        print(json.dumps(data, indent=2))
    else:
        print(render_status(rows))
    return 0


def pause(args: argparse.Namespace) -> int:
    """``dqueue pause QUEUE [--for D | --until T]``."""
    ops.check_queue(args.settings, args.queue)
    try:
        paused = ops.pause(args.settings, args.queue, duration=args.for_, until=args.until)
    except InvalidTime as exc:
        raise InvalidTime(f"{'--for' if args.for_ is not None else '--until'}: {exc}") from None
    if paused.indefinitely:
        print(f"Paused queue {args.queue} until resumed (dqueue resume {args.queue}).")
    else:
        print(f"Paused queue {args.queue} until {paused.until.isoformat()}.")
    return 0


def resume(args: argparse.Namespace) -> int:
    """``dqueue resume QUEUE``."""
    ops.check_queue(args.settings, args.queue)
    ops.resume(args.settings, args.queue)
    print(f"Resumed queue {args.queue}.")
    return 0


def clear(args: argparse.Namespace) -> int:
    """``dqueue clear QUEUE [--yes]``: waiting jobs only; running ones finish."""
    ops.check_queue(args.settings, args.queue)
    if not args.yes:
        _confirm(f"Delete every waiting job of queue {args.queue}?", what="clear a queue")
    cleared = ops.clear(args.settings, args.queue)
    print(f"Cleared {cleared} waiting job(s) from queue {args.queue}.")
    return 0


def deduplicate(args: argparse.Namespace) -> int:
    """``dqueue deduplicate QUEUE``."""
    ops.check_queue(args.settings, args.queue)
    done = ops.deduplicate(args.settings, args.queue)
    if done.before == done.after:
        print(f"No duplicate jobs detected (queue length remains {done.after}).")
    else:
        print(f"Deduplication reduced the queue from {done.before} jobs to {done.after} job(s).")
    return 0


def dead(args: argparse.Namespace) -> int:
    """``dqueue dead list|retry|purge QUEUE ...``."""
    settings: Settings = args.settings
    ops.check_queue(settings, args.queue)
    if args.dead_command == "list":
        letters = ops.dead_letters(settings, args.queue, limit=args.limit)
        if args.json:
            print(json.dumps([ops.dead_letter_data(letter) for letter in letters], indent=2))
        else:
            print(render_dead_letters(letters))
        return 0
    if bool(args.ids) == bool(args.all):
        raise UsageError(f"dead {args.dead_command}: give job ids or --all (not both)")
    ids = None if args.all else args.ids
    if args.dead_command == "retry":
        change = ops.retry_dead(settings, args.queue, ids)
    else:
        if args.all and not args.yes:
            _confirm(f"Delete every dead letter of queue {args.queue}?", what="purge dead letters")
        change = ops.purge_dead(settings, args.queue, ids)
    if change.count or ids is None:
        print(f"{change.action.capitalize()} {change.count} dead letter(s) of queue {args.queue}.")
    change.check_all_found(see=f"dqueue dead list {args.queue}")
    return 0


def _json_option(text: str, option: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option}: not valid JSON ({exc})") from None
    if not isinstance(value, kind):
        expected = "a JSON list" if kind is list else "a JSON object"
        raise UsageError(f"{option}: expected {expected}, got {type(value).__name__}")
    return value


def _check_signature(
    target: Task[Any, Any], arguments: list[Any], keywords: dict[str, Any]
) -> None:
    """Refuse arguments the task's function cannot take: the job would only fail in a worker."""
    try:
        import inspect  # only `dqueue enqueue` needs it

        signature = inspect.signature(target.fn)
    except (TypeError, ValueError):  # no signature to check against (a builtin, a C function)
        return
    try:
        signature.bind(*arguments, **keywords)
    except TypeError as exc:
        names = ", ".join(str(p.replace(annotation=p.empty)) for p in signature.parameters.values())
        raise UsageError(f"--args / --kwargs do not fit {target.name}({names}): {exc}") from None


def enqueue(args: argparse.Namespace) -> int:
    """``dqueue enqueue TASK [--args JSON] [--kwargs JSON] [--delay S] [--queue Q]``."""
    arguments = _json_option(args.args, "--args", list)
    keywords = _json_option(args.kwargs, "--kwargs", dict)
    target = REGISTRY.resolve(args.task)
    _check_signature(target, arguments, keywords)
    if args.queue is not None or args.delay is not None:
        target = target.using(queue=args.queue, delay=args.delay)
    try:
        handle = target.enqueue(*arguments, **keywords)
    except DQueueError:
        raise
    except Exception as exc:
        # Only a backend that runs jobs inline (the synchronous one) lets the task's own
        # exception out here; the task's failure and traceback were logged already.
        raise JobFailed(
            f"{target.name} ran inline and failed: {type(exc).__name__}: {exc} "
            "(DQUEUE_BACKEND runs jobs at enqueue)",
            failure=JobFailure.from_exception(exc, at=time.time(), attempt=1),
        ) from exc
    print(handle.id)
    return 0
