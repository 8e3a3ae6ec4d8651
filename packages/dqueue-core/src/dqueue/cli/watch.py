"""Live views (``status --watch``) and progress of long operations, for both command lines.

A live view redraws in place on a terminal (cursor home, clear screen, then the frame) under a
header with the time and how to stop; elsewhere (a pipe, a log file) it prints each frame after
the previous one, a blank line between them, so that the output can be read back later (with
``--json``, one JSON document a line, for ``jq`` and log shippers). Ctrl-C
ends it quietly with status 0. A store that can't be reached is shown in the frame and asked
again, less and less often, until it answers; the view goes on.

Progress goes where a person watches it, a terminal on stderr, as one line rewritten in place;
the summary of what was done is the command's output on stdout, always.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo

from ..backoff import Backoff
from ..errors import BackendUnavailable

__all__ = ["CLEAR_SCREEN", "MAX_RETRY_S", "Progress", "watch"]

#: Cursor home, then clear the screen: the frame is drawn over the previous one.
CLEAR_SCREEN = "\x1b[H\x1b[2J"
#: Return to the start of the line and clear it: progress rewrites its one line.
_CLEAR_LINE = "\r\x1b[K"
#: The longest wait between two tries of a store that can't be reached.
MAX_RETRY_S = 30.0


def _seconds(value: float) -> str:
    return f"{value:g} s"


def watch(
    render: Callable[[], str],
    *,
    interval_s: float,
    write: Callable[[str], object],
    terminal: bool,
    json_lines: bool = False,
    tz: tzinfo | None = None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.time,
) -> int:
    """Show ``render()`` every ``interval_s`` until Ctrl-C; return the exit status, 0.

    Args:
        render: the frame's text; a :class:`~dqueue.errors.BackendUnavailable` or ``OSError``
            it raises is shown in the frame, and the next frame is tried after a backoff that
            doubles from ``interval_s`` up to :data:`MAX_RETRY_S` (other errors end the view).
        interval_s: seconds between two frames (the header says it).
        write: prints a frame (a newline is added after it, as ``print`` does).
        terminal: redraw in place (a terminal), or print frames one after another.
        json_lines: ``render()`` returns a JSON document on one line; away from a terminal each
            frame is then one line, ``{"at": ISO time, "status": document}``, or
            ``{"at": ..., "error": message, "retry_in_s": seconds}``.
        tz: the header's time zone (``None``: the local one).
        sleep: waits that many seconds (injected: tests run frames without waiting).
        clock: the time, epoch seconds (injected, as ``sleep``).
    """
    retry = Backoff(interval_s, max(MAX_RETRY_S, interval_s), jitter=0.0)
    one_line_each = json_lines and not terminal
    first = True
    try:
        while True:
            error: str | None = None
            try:
                body = render()
                retry.reset()
                wait = interval_s
            except (BackendUnavailable, OSError) as exc:
                wait = retry.next_delay()
                error = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                body = f"error: {error}\n(trying again in {_seconds(wait)})"
            now = datetime.fromtimestamp(clock(), UTC).astimezone(tz)
            header = f"{now:%Y-%m-%d %H:%M:%S %Z}".rstrip() + f", every {_seconds(interval_s)}"
            if one_line_each:
                write(_json_frame(now, body, error, wait))
            elif terminal:
                write(f"{CLEAR_SCREEN}{header} (Ctrl-C to stop)\n\n{body}")
            else:
                write(f"{'' if first else chr(10)}{header}\n\n{body}")
            first = False
            sleep(wait)
    except KeyboardInterrupt:
        return 0


def _json_frame(now: datetime, document: str, error: str | None, wait: float) -> str:
    """One line: the time and the status document, or the error and when it is tried again."""
    at = now.isoformat(timespec="seconds")
    if error is not None:
        return json.dumps({"at": at, "error": error, "retry_in_s": wait})
    # The document is JSON already: placed as it is rather than read and written again.
    return f'{{"at": {json.dumps(at)}, "status": {document}}}'


@dataclass(frozen=True, slots=True)
class Progress:
    """Reports how far a long operation got, on one line rewritten in place, to a terminal.

    ``write`` writes text as it is (no newline added); ``None`` (not a terminal) reports
    nothing. Called with ``(done, total)``, it shows ``line`` with ``{done}`` and ``{total}``
    replaced: "retried {done} of {total} dead letters". :meth:`done` clears the line before
    the summary is printed.
    """

    write: Callable[[str], object] | None
    line: str = ""

    def __call__(self, done: int, total: int) -> None:
        """Show that ``done`` of ``total`` are done."""
        self.show(self.line.replace("{done}", f"{done:,}").replace("{total}", f"{total:,}"))

    def show(self, text: str) -> None:
        """Show ``text`` in place of the previous progress."""
        if self.write is not None:
            self.write(_CLEAR_LINE + text)

    def done(self) -> None:
        """Clear the progress line (the summary comes next, on stdout)."""
        if self.write is not None:
            self.write(_CLEAR_LINE)
