"""Logging for the processes the ``dqueue`` command starts (runner, workers, demo).

Library code only creates loggers under ``dqueue.*``; handlers are configured here, once, by the
command line entry points, never on import.
"""

from __future__ import annotations

import logging
import sys

__all__ = ["LOG_FORMAT", "LOG_LEVELS", "configure_logging", "printable"]

#: The level names that DQUEUE_LOG_LEVEL and --log-level accept.
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(processName)s[%(process)d] %(name)s: %(message)s"

_HANDLER_NAME = "dqueue-cli"


def configure_logging(level: str = "INFO") -> None:
    """Send ``dqueue.*`` log records at ``level`` and above to stderr.

    Idempotent: calling it again changes the level and stream instead of adding handlers.
    """
    logger = logging.getLogger("dqueue")
    for handler in list(logger.handlers):
        if handler.get_name() == _HANDLER_NAME:
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler.set_name(_HANDLER_NAME)
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logger.addHandler(handler)
    logger.setLevel(level.upper())  # the settings and the command line checked the name


def printable(text: str) -> str:
    r"""``text`` with each non-printable character escaped as ``repr`` would (``\n``, ``\x1b``).

    Task names, job ids and queues come from payloads: unescaped, a newline in one would write
    a forged line into the log.
    """
    if text.isprintable():
        return text
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)
