"""``dqueue``: the command line of dqueue-core (also ``python -m dqueue``).

.. code-block:: console

    $ dqueue --config settings.py --tasks myapp.tasks runner --machine 1 --of 2
    $ dqueue status
    $ dqueue pause mail --for 10m
    $ dqueue dead list mail
    $ dqueue jobs mail --state delayed
    $ dqueue run-now 0192f3a4b5c6d7e8f9a0b1c2d3e4f5a6
    $ dqueue demo

Every mistake (a bad option, an unknown queue or task, bad JSON, a bad setting, a store that
can't be reached) is one line on stderr, ``dqueue: error: ...``, and a non-zero exit status:
2 for command line usage, 1 for everything else. Never a traceback.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from ..errors import DQueueError, UsageError
from ..loading import import_task_modules
from ..logs import configure_logging
from ..settings import configure, get_settings
from . import control, jobs, running
from .parser import build_parser

__all__ = ["main"]

_HANDLERS = {
    "runner": running.runner,
    "worker": running.worker,
    "configuration": running.configuration,
    "status": control.status,
    "pause": control.pause,
    "resume": control.resume,
    "clear": control.clear,
    "deduplicate": control.deduplicate,
    "dead": control.dead,
    "jobs": jobs.jobs,
    "job": jobs.job,
    "cancel": jobs.cancel,
    "run-now": jobs.run_now,
    "enqueue": control.enqueue,
    "demo": running.demo,
}


def _error(message: str) -> None:
    first_line = message.strip().splitlines()[0] if message.strip() else "failed"
    print(f"dqueue: error: {first_line}", file=sys.stderr)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``dqueue`` command with ``argv`` (``sys.argv[1:]``); return the exit status."""
    # Like `python -m`, let --tasks and DQUEUE_TASKS name modules of the current directory.
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    parser = build_parser()
    try:
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    except UsageError as exc:
        _error(f"{exc} (see 'dqueue --help')")
        return 2
    except SystemExit as exc:  # --help and --version
        return exc.code if isinstance(exc.code, int) else 0
    try:
        settings = configure(config_file=args.config) if args.config else get_settings()
        configure_logging(args.log_level or settings.LOG_LEVEL, settings.LOG_FORMAT)
        import_task_modules([*settings.TASKS, *args.tasks])
        args.settings = settings
        status: int = _HANDLERS[args.command](args)
    except UsageError as exc:
        _error(str(exc))
        return 2
    except (DQueueError, OSError) as exc:
        _error(str(exc))
        return 1
    except KeyboardInterrupt:
        _error("interrupted")
        return 130
    return status
