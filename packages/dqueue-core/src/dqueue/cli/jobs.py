"""Commands on single jobs: jobs, job, cancel, run-now.

What they do is :mod:`dqueue.ops.jobs` and what they print is :mod:`dqueue.ops.job_views`;
``manage.py queue_jobs``, ``queue_job``, ``queue_cancel`` and ``queue_run_now`` run these very
functions through their :class:`~dqueue.cli.control.Front`.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC

from ..errors import InvalidTime
from ..ops import job_views
from ..ops.jobs import cancel_jobs, find_job, list_jobs, reschedule_jobs, state_name
from .control import Front, _front

__all__ = ["cancel", "job", "jobs", "run_now"]


def jobs(args: argparse.Namespace, front: Front | None = None) -> int:
    """``jobs QUEUE [--state S] [--limit N] [--cursor C] [--json]``."""
    front = _front(args, front)
    front.check_queue(args.queue)
    page = list_jobs(front.settings, args.queue, args.state, limit=args.limit, cursor=args.cursor)
    if args.json:
        front.write(json.dumps(job_views.job_page_data(page, args.queue, args.state), indent=2))
        return 0
    more = (
        f"{front.command.format('jobs')} {args.queue} --state {state_name(args.state)} "
        f"--limit {args.limit}"
    )
    front.write(job_views.render_jobs(page, args.state, tz=front.default_tz, next_page=more))
    return 0


def job(args: argparse.Namespace, front: Front | None = None) -> int:
    """``job ID [--json]``."""
    front = _front(args, front)
    detail = find_job(front.settings, args.id)
    if args.json:
        front.write(json.dumps(job_views.job_detail_data(detail), indent=2))
    else:
        front.write(job_views.render_job(detail, tz=front.default_tz))
    return 0


def cancel(args: argparse.Namespace, front: Front | None = None) -> int:
    """``cancel ID...``: refused ids (unknown, dead) are one error line after the count."""
    front = _front(args, front)
    done = cancel_jobs(front.settings, args.ids)
    if done.changed:
        front.write(f"Cancelled {len(done.changed)} job(s).")
    done.check_all_changed()
    return 0


def run_now(args: argparse.Namespace, front: Front | None = None) -> int:
    """``run-now ID... [--in DURATION | --at TIME]``."""
    front = _front(args, front)
    try:
        done = reschedule_jobs(
            front.settings, args.ids, delay=args.in_, at=args.at, default_tz=front.default_tz
        )
    except InvalidTime as exc:
        raise InvalidTime(f"{'--in' if args.in_ is not None else '--at'}: {exc}") from None
    if done.changed:
        when = "now"
        if done.run_at is not None:
            moment = done.run_at.astimezone(front.default_tz or UTC)
            when = f"at {moment.isoformat(timespec='seconds')}"
        front.write(f"Made {len(done.changed)} job(s) due {when}.")
    done.check_all_changed()
    return 0
