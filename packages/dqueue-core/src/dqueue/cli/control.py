"""Commands that inspect and control queues: status, pause, resume, clear, dead, enqueue."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime
from typing import Any

from ..backends import get_backend
from ..clock import to_datetime, to_epoch
from ..errors import DQueueError
from ..registry import REGISTRY
from ..settings import Settings
from ..status import dead_letters_data, render_dead_letters, render_status, status_data
from ..task import Task
from .parser import UsageError
from .queues import backend_names, check_queue, known_queues

__all__ = [
    "clear",
    "dead",
    "deduplicate",
    "enqueue",
    "parse_duration",
    "pause",
    "resume",
    "status",
]

_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$")
#: How far ahead "paused until resumed" reaches: a pause needs an end in every store.
_INDEFINITELY_S = 100 * 365 * 86400.0


def parse_duration(text: str) -> float:
    """Seconds from ``90``, ``1.5``, ``1h30m``, ``2m10s`` or ``45s``.

    Raises:
        UsageError: the text is none of these.
    """
    try:
        seconds = float(text)
    except ValueError:
        match = _DURATION.match(text.strip())
        if not match or not any(match.groups()):
            raise UsageError(
                f"--for {text!r}: expected seconds (90) or hours/minutes/seconds (1h30m)"
            ) from None
        hours, minutes, secs = (float(part) if part else 0.0 for part in match.groups())
        seconds = hours * 3600 + minutes * 60 + secs
    if not 0 < seconds < float("inf"):
        raise UsageError(f"--for {text!r}: the duration must be more than 0 seconds")
    return seconds


def _confirm(question: str, *, what: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to {what} without --yes (no terminal to ask)")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise DQueueError("aborted; nothing changed")


def status(args: argparse.Namespace) -> int:
    """``dqueue status [QUEUE...]``."""
    settings: Settings = args.settings
    queues = args.queues or known_queues(settings)
    for queue in args.queues:
        check_queue(settings, queue)
    counts = [get_backend(queue, settings=settings).counts(queue) for queue in queues]
    rows = status_data(counts, backend_names(settings, queues))
    print(json.dumps(rows, indent=2) if args.json else render_status(rows))
    return 0


def pause(args: argparse.Namespace) -> int:
    """``dqueue pause QUEUE [--for D | --until T]``."""
    settings: Settings = args.settings
    check_queue(settings, args.queue)
    backend = get_backend(args.queue, settings=settings)
    now = backend.clock.time()
    if args.until is not None:
        until = _parse_until(args.until)
        if until <= now:
            raise UsageError(f"--until {args.until}: refusing to pause until a time in the past")
    elif args.for_ is not None:
        until = now + parse_duration(args.for_)
    else:
        until = now + _INDEFINITELY_S
    backend.pause(args.queue, until)
    if args.until is None and args.for_ is None:
        print(f"Paused queue {args.queue} until resumed (dqueue resume {args.queue}).")
    else:
        print(f"Paused queue {args.queue} until {to_datetime(until).isoformat()}.")
    return 0


def _parse_until(text: str) -> float:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(f"--until {text!r} is not an ISO 8601 time") from None
    try:
        return to_epoch(moment)
    except ValueError:
        raise UsageError(f"--until {text!r} has no time zone: add one, e.g. {text}+00:00") from None


def resume(args: argparse.Namespace) -> int:
    """``dqueue resume QUEUE``."""
    settings: Settings = args.settings
    check_queue(settings, args.queue)
    get_backend(args.queue, settings=settings).resume(args.queue)
    print(f"Resumed queue {args.queue}.")
    return 0


def clear(args: argparse.Namespace) -> int:
    """``dqueue clear QUEUE [--yes]``: waiting jobs only; running ones finish."""
    settings: Settings = args.settings
    check_queue(settings, args.queue)
    if not args.yes:
        _confirm(f"Delete every waiting job of queue {args.queue}?", what="clear a queue")
    cleared = get_backend(args.queue, settings=settings).clear(args.queue)
    print(f"Cleared {cleared} waiting job(s) from queue {args.queue}.")
    return 0


def deduplicate(args: argparse.Namespace) -> int:
    """``dqueue deduplicate QUEUE``."""
    settings: Settings = args.settings
    check_queue(settings, args.queue)
    before, after = get_backend(args.queue, settings=settings).deduplicate(args.queue)
    if before == after:
        print(f"No duplicate jobs detected (queue length remains {after}).")
    else:
        print(f"Deduplication reduced the queue from {before} jobs to {after} job(s).")
    return 0


def dead(args: argparse.Namespace) -> int:
    """``dqueue dead list|retry|purge QUEUE ...``."""
    settings: Settings = args.settings
    check_queue(settings, args.queue)
    backend = get_backend(args.queue, settings=settings)
    if args.dead_command == "list":
        rows = dead_letters_data(backend.dead_letters(args.queue, limit=args.limit))
        print(json.dumps(rows, indent=2) if args.json else render_dead_letters(rows))
        return 0
    if bool(args.ids) == bool(args.all):
        raise UsageError(f"dead {args.dead_command}: give job ids or --all (not both)")
    ids = None if args.all else list(dict.fromkeys(args.ids))
    if args.dead_command == "retry":
        count = backend.retry_dead(args.queue, ids)
        done = "requeued"
    else:
        if args.all and not args.yes:
            _confirm(f"Delete every dead letter of queue {args.queue}?", what="purge dead letters")
        count = backend.purge_dead(args.queue, ids)
        done = "purged"
    if count or ids is None:
        print(f"{done.capitalize()} {count} dead letter(s) of queue {args.queue}.")
    _check_all_found(args.queue, ids, count, done)
    return 0


def _check_all_found(queue: str, ids: list[str] | None, count: int, done: str) -> None:
    """A job id that is not a dead letter is a mistake (a typo, another queue): say so."""
    if ids is None or count >= len(ids):
        return
    if count == 0:
        raise DQueueError(
            f"no dead letter of queue {queue!r} has the id(s) {', '.join(ids)} "
            f"(see 'dqueue dead list {queue}')"
        )
    raise DQueueError(
        f"{len(ids) - count} of the {len(ids)} job id(s) are not dead letters of queue "
        f"{queue!r}; the other {count} were {done}"
    )


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
        raise DQueueError(
            f"{target.name} ran inline and failed: {type(exc).__name__}: {exc} "
            "(DQUEUE_BACKEND runs jobs at enqueue)"
        ) from exc
    print(handle.id)
    return 0
