"""Commands that inspect and control queues: status, workers, pause, resume, clear, dead, enqueue.

What they do is :mod:`dqueue.ops`; these functions read the options and print the results.
``manage.py queue_*`` runs the same functions through a :class:`Front` of its own, so both
command lines print the same words.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, tzinfo
from typing import Any

from .. import ops
from ..errors import Aborted, DQueueError, InvalidTime, JobFailed, SignatureMismatch, UsageError
from ..job import JobFailure
from ..json_values import MAX_NESTING, nests_deeper_than
from ..pool import queue_counts
from ..registry import REGISTRY, TaskRegistry
from ..settings import Settings
from ..status import render_dead_letters, render_sqlite_file, render_status, render_workers
from .watch import Progress, watch

__all__ = [
    "Front",
    "Handler",
    "clear",
    "dead",
    "deduplicate",
    "enqueue",
    "pause",
    "resume",
    "status",
    "workers",
]

#: Seconds between two frames of ``status --watch`` unless ``--interval`` says.
DEFAULT_WATCH_INTERVAL_S = 2.0

#: Adds a front end's own fields to the ``--json`` rows of ``status``; returns lines to print
#: under its table.
StatusNotes = Callable[[list[dict[str, Any]]], list[str]]


def _stderr_if_terminal() -> Callable[[str], object] | None:
    return sys.stderr.write if sys.stderr.isatty() else None


@dataclass(frozen=True, kw_only=True)
class Front:
    """What a front end lends the shared commands; the defaults are the ``dqueue`` command's.

    ``manage.py`` writes through its command's stdout, finds queues in the installed apps
    (``extra_queues``, with an empty ``registry``), reads a time without an offset in Django's
    ``TIME_ZONE`` and names its own commands in hints.
    """

    settings: Settings
    write: Callable[[str], object] = print
    #: How a hint names another command; ``{}`` stands for ``resume``, ``dead list``, ...
    command: str = "dqueue {}"
    default_tz: tzinfo | None = None
    extra_queues: tuple[str, ...] = ()
    registry: TaskRegistry = REGISTRY
    #: Whether ``write`` goes to a terminal: ``status --watch`` redraws in place there.
    terminal: bool = field(default_factory=lambda: sys.stdout.isatty())
    #: Sends what ``write`` wrote on (a live view's frame to a pipe, not at exit).
    flush: Callable[[], object] = field(default=lambda: sys.stdout.flush())
    #: Writes text as is (no newline added) to a terminal watching a long operation's
    #: progress (stderr); ``None`` when there is none: then only the summary is printed.
    progress: Callable[[str], object] | None = field(default_factory=_stderr_if_terminal)

    def progress_of(self, line: str = "") -> Progress:
        """Progress reported with ``line`` (``"retried {done} of {total} dead letters"``)."""
        return Progress(self.progress, line)

    def list_queues(self, *, keep_going: bool = False) -> ops.QueueListing:
        """Every known queue (see :func:`dqueue.ops.list_queues`)."""
        return ops.list_queues(
            self.settings, extra=self.extra_queues, registry=self.registry, keep_going=keep_going
        )

    def pool_counts(self) -> dict[str, int]:
        """The workers the pool gives each queue (see :func:`dqueue.pool.queue_counts`)."""
        return queue_counts(self.settings, self.extra_queues, registry=self.registry)

    def check_queue(self, queue: str, *, store_may_be_down: bool = False) -> None:
        """Refuse a queue nothing knows (see :func:`dqueue.ops.check_queue`)."""
        ops.check_queue(
            self.settings,
            queue,
            extra=self.extra_queues,
            registry=self.registry,
            store_may_be_down=store_may_be_down,
        )


#: A command that a front end runs with its parsed options (``dqueue``'s names) and itself.
Handler = Callable[[argparse.Namespace, Front], int]


def _front(args: argparse.Namespace, front: Front | None) -> Front:
    return front if front is not None else Front(settings=args.settings)


def _confirm(question: str, *, what: str) -> None:
    if not sys.stdin.isatty():
        raise UsageError(f"refusing to {what} without --yes (no terminal to ask)")
    answer = input(f"{question} [y/N] ").strip().lower()
    if answer not in ("y", "yes"):
        raise Aborted("aborted; nothing changed")


def _status_text(
    args: argparse.Namespace, front: Front, notes: StatusNotes | None, *, one_line: bool = False
) -> str:
    queues = args.queues or front.list_queues().queues
    rows = ops.queue_status(front.settings, queues, pool=front.pool_counts())
    # The short class name (SQLiteBackend), as the status table of the first version had it.
    data = [{**row.to_dict(), "backend": row.backend.rsplit(".", 1)[-1]} for row in rows]
    more = notes(data) if notes is not None else []
    if args.json:
        return json.dumps(data) if one_line else json.dumps(data, indent=2)
    sqlite = ops.sqlite_file(front.settings, [row.queue for row in rows])
    where = [] if sqlite is None else ["", *render_sqlite_file(sqlite.path, sqlite.notes)]
    return "\n".join([render_status(rows), *where, *more])


def status(
    args: argparse.Namespace, front: Front | None = None, *, notes: StatusNotes | None = None
) -> int:
    """``status [QUEUE...] [--json] [--watch] [--interval D]``; ``notes`` adds a front's own.

    With ``--watch`` (or ``--interval``) the status is shown again every interval until Ctrl-C
    (see :func:`dqueue.cli.watch.watch`); a store that can't be reached meanwhile is shown and
    asked again.
    """
    front = _front(args, front)
    watching = args.watch or args.interval is not None
    for queue in args.queues:
        front.check_queue(queue, store_may_be_down=watching)
    if not watching:
        front.write(_status_text(args, front, notes))
        return 0
    interval = args.interval if args.interval is not None else DEFAULT_WATCH_INTERVAL_S
    json_lines = args.json and not front.terminal  # a stream of documents, for jq
    return watch(
        lambda: _status_text(args, front, notes, one_line=json_lines),
        interval_s=interval,
        write=lambda frame: (front.write(frame), front.flush()),
        terminal=front.terminal,
        json_lines=json_lines,
        tz=front.default_tz,
    )


def workers(args: argparse.Namespace, front: Front | None = None) -> int:
    """``workers [QUEUE...] [--json]``: the live workers, one line each."""
    front = _front(args, front)
    for queue in args.queues:
        front.check_queue(queue)
    listing = ops.live_workers(front.settings, args.queues or None)
    listing.check_seen()
    if args.json:
        data = [ops.worker_data(beat, listing.now) for beat in listing.workers]
        front.write(json.dumps(data, indent=2))
    else:
        front.write(render_workers(listing))
    return 0


def pause(args: argparse.Namespace, front: Front | None = None) -> int:
    """``pause QUEUE [--for D | --until T]``."""
    front = _front(args, front)
    front.check_queue(args.queue)
    try:
        paused = ops.pause(
            front.settings,
            args.queue,
            duration=args.for_,
            until=args.until,
            default_tz=front.default_tz,
        )
    except InvalidTime as exc:
        raise InvalidTime(f"{'--for' if args.for_ is not None else '--until'}: {exc}") from None
    if paused.indefinitely:
        resume_hint = f"{front.command.format('resume')} {args.queue}"
        front.write(f"Paused queue {args.queue} until resumed ({resume_hint}).")
    else:
        until = paused.until.astimezone(front.default_tz or UTC).isoformat(timespec="seconds")
        front.write(f"Paused queue {args.queue} until {until}.")
    return 0


def resume(args: argparse.Namespace, front: Front | None = None) -> int:
    """``resume QUEUE``."""
    front = _front(args, front)
    front.check_queue(args.queue)
    ops.resume(front.settings, args.queue)
    front.write(f"Resumed queue {args.queue}.")
    return 0


def clear(args: argparse.Namespace, front: Front | None = None) -> int:
    """``clear QUEUE [--yes]``: waiting jobs only; running ones finish."""
    front = _front(args, front)
    front.check_queue(args.queue)
    if not args.yes:
        _confirm(f"Delete every waiting job of queue {args.queue}?", what="clear a queue")
    progress = front.progress_of("cleared {done} of {total} waiting jobs of queue " + args.queue)
    progress.show(f"clearing queue {args.queue}...")
    try:
        cleared = ops.clear(front.settings, args.queue, progress=progress)
    finally:
        progress.done()
    front.write(f"Cleared {cleared} waiting job(s) from queue {args.queue}.")
    return 0


def deduplicate(args: argparse.Namespace, front: Front | None = None) -> int:
    """``deduplicate QUEUE``."""
    front = _front(args, front)
    front.check_queue(args.queue)
    progress = front.progress_of()
    progress.show(f"deduplicating queue {args.queue}...")
    try:
        done = ops.deduplicate(front.settings, args.queue)
    finally:
        progress.done()
    if done.before == done.after:
        front.write(f"No duplicate jobs detected (queue length remains {done.after}).")
    else:
        front.write(
            f"Deduplication reduced the queue from {done.before} jobs to {done.after} job(s)."
        )
    return 0


def dead(args: argparse.Namespace, front: Front | None = None) -> int:
    """``dead list|retry|purge QUEUE ...``."""
    front = _front(args, front)
    settings, queue = front.settings, args.queue
    front.check_queue(queue)
    if args.dead_command == "list":
        letters = ops.dead_letters(settings, queue, limit=args.limit)
        if args.json:
            front.write(json.dumps([ops.dead_letter_data(letter) for letter in letters], indent=2))
            return 0
        front.write(render_dead_letters(letters))
        for letter in letters if args.failure_tracebacks else []:
            if letter.failure.traceback:
                front.write(f"\n{letter.job.id}:\n{letter.failure.traceback.rstrip()}")
        return 0
    if bool(args.ids) == bool(args.all):
        raise UsageError(f"dead {args.dead_command}: give job ids or --all (not both)")
    ids = None if args.all else args.ids
    if args.dead_command == "purge" and args.all and not args.yes:
        _confirm(f"Delete every dead letter of queue {queue}?", what="purge dead letters")
    verb = "retried" if args.dead_command == "retry" else "purged"
    progress = front.progress_of(verb + " {done} of {total} dead letters")
    act = ops.retry_dead if args.dead_command == "retry" else ops.purge_dead
    try:
        change = act(settings, queue, ids, progress=progress)
    finally:
        progress.done()
    if change.count or ids is None:
        front.write(f"{change.action.capitalize()} {change.count} dead letter(s) of queue {queue}.")
    change.check_all_found(see=f"{front.command.format('dead list')} {queue}")
    return 0


def _json_option(text: str, option: str, kind: type) -> Any:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"{option}: not valid JSON ({exc})") from None
    except RecursionError:  # json.loads recurses per level: a deep document exhausts the stack
        raise UsageError(f"{option}: JSON nested too deeply") from None
    # Python 3.13's decoder reads deep documents: say what is wrong before the task's
    # signature is checked (the option's own list or object is one level above the values).
    if nests_deeper_than(value, MAX_NESTING + 1):
        raise UsageError(f"{option}: JSON nested too deeply (over {MAX_NESTING} levels)")
    if not isinstance(value, kind):
        expected = "a JSON list" if kind is list else "a JSON object"
        raise UsageError(f"{option}: expected {expected}, got {type(value).__name__}")
    return value


def enqueue(args: argparse.Namespace) -> int:
    """``dqueue enqueue TASK [--args JSON] [--kwargs JSON] [--delay S] [--queue Q]``."""
    arguments = _json_option(args.args, "--args", list)
    keywords = _json_option(args.kwargs, "--kwargs", dict)
    target = REGISTRY.load(args.task)
    if args.queue is not None or args.delay is not None:
        target = target.using(queue=args.queue, delay=args.delay)
    try:
        handle = target.enqueue(*arguments, **keywords)
    except SignatureMismatch as exc:
        raise UsageError(f"--args / --kwargs: {exc}") from None
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
