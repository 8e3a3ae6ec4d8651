"""Logging for the processes the ``dqueue`` command starts (runner, workers, demo).

Library code only creates loggers under ``dqueue.*``; handlers are configured here, once, by the
command line entry points, never on import. ``DQUEUE_LOG_FORMAT`` picks the format: ``text``
(a line for people) or ``json`` (one JSON object per line, for a log collector).
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, Final

__all__ = [
    "LOG_FORMATS",
    "LOG_LEVELS",
    "TEXT_FORMAT",
    "JsonFormatter",
    "configure_logging",
    "printable",
]

#: The level names that DQUEUE_LOG_LEVEL and --log-level accept.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
#: The formats that DQUEUE_LOG_FORMAT accepts.
LOG_FORMATS = ("text", "json")
#: The ``text`` format's line.
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s[%(process)d] %(name)s: %(message)s"

_HANDLER_NAME = "dqueue-cli"
# What every record has: anything else on a record came as ``extra`` and is written as a key.
_STANDARD: Final = frozenset(
    (*vars(logging.LogRecord("", 0, "", 0, "", None, None)), "message", "asctime", "taskName")
)


class JsonFormatter(logging.Formatter):
    r"""Formats each record as one line of JSON, for log collectors.

    The keys: ``time`` (UTC, ISO 8601), ``level``, ``logger``, ``process``, ``pid``,
    ``message``, each ``extra`` attribute of the record, and ``traceback`` when it has one.

    Non-ASCII and control characters are escaped (``\u001b``): a value cannot break the line.
    """

    def format(self, record: logging.LogRecord) -> str:
        """The record as one line of JSON."""
        data: dict[str, Any] = {
            key: value for key, value in vars(record).items() if key not in _STANDARD
        }
        moment = datetime.fromtimestamp(record.created, tz=UTC)
        data.update(
            time=moment.isoformat(timespec="milliseconds"),
            level=record.levelname,
            logger=record.name,
            process=record.processName,
            pid=record.process,
            message=record.getMessage(),
        )
        if record.exc_info:
            data["traceback"] = self.formatException(record.exc_info)
        if record.stack_info:
            data["stack"] = self.formatStack(record.stack_info)
        return json.dumps(data, default=str)


def configure_logging(level: str = "INFO", log_format: str = "text") -> None:
    """Send ``dqueue.*`` log records at ``level`` and above to stderr, as ``log_format``.

    Idempotent: calling it again changes the level, format and stream instead of adding
    handlers.
    """
    logger = logging.getLogger("dqueue")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    # The settings and the command line checked the names.
    json_lines = log_format.lower() == "json"
    handler.setFormatter(JsonFormatter() if json_lines else logging.Formatter(TEXT_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level.upper())


def printable(text: str) -> str:
    r"""``text`` with each non-printable character escaped as ``repr`` would (``\n``, ``\x1b``).

    Task names, job ids and queues come from payloads: unescaped, a newline in one would write
    a forged line into the log.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
