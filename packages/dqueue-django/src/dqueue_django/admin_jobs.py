"""The admin's pages of single jobs: a queue's jobs in one state, one job, and its buttons.

What they show is what ``manage.py queue_jobs`` and ``queue_job --json`` print (the
:mod:`dqueue.ops.jobs` operations, through :func:`dqueue.ops.job_views.job_detail_data` and
``job_data``); the buttons run the ``queue_cancel`` and ``queue_run_now`` handlers, so a
``messages`` line says what the command would; so do the list's "Cancel selected" and "Run now
selected" (ready and delayed jobs, with the permission). A list pages with the store's cursor,
never an offset. Without :data:`~dqueue_django.admin_views.MANAGE_PERMISSION` a job shows only
what names it and the kind of its failures, as the dead letter list does: arguments, failure
messages, tracebacks, return values and undecodable payloads echo what jobs hold.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from functools import partial
from typing import Any
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotAllowed,
    HttpResponseRedirect,
)
from django.urls import URLPattern, path
from django.views.decorators.http import require_http_methods

from dqueue import ops
from dqueue.backends.inspection import JobState, JobView
from dqueue.cli import jobs as job_commands
from dqueue.clock import to_datetime
from dqueue.errors import DQueueError, JobNotFound, UnsupportedOperation, UsageError
from dqueue.job import JobFailure
from dqueue.ops.job_views import job_data, job_detail_data
from dqueue.ops.jobs import JobDetail, state_name
from dqueue.settings import Settings, get_settings

from .admin_views import (
    MANAGE_PERMISSION,
    admin_url,
    can_manage,
    choice_of,
    job_link,
    open_queue,
    queue_row,
    render_page,
    state_label,
    state_tabs,
)
from .queues import front, pool_counts

__all__ = ["PAGE_SIZES", "JobViews"]

#: How many jobs a page of a list shows (``?limit=``).
PAGE_SIZES = (20, 100, 500)
#: The lists whose rows can be selected, and the actions on a selection each offers.
_SELECTION_ACTIONS = {JobState.READY: ("cancel",), JobState.DELAYED: ("cancel", "run_now")}
_STORE_DOWN = "The queue store cannot be read: {}"
#: How much of a running job's progress a list shows, in characters (as ``queue_jobs``).
_PROGRESS_CHARS = 120


@dataclass(frozen=True)
class JobViews:
    """The job pages of one admin site."""

    site: AdminSite

    def urls(self) -> list[URLPattern]:
        """The pages' URLs, each behind the site's login, staff check and CSRF protection."""
        wrap = self.site.admin_view
        act = require_http_methods(["GET", "HEAD", "POST"])
        return [
            # The queue is the path's last part (queue names may hold slashes), as a job id is.
            path(
                "dqueue/jobs/<slug:state>/<path:queue>/",
                wrap(act(self.jobs)),
                name="dqueue_jobs",
            ),
            path("dqueue/job/<path:job_id>/", wrap(act(self.job)), name="dqueue_job"),
        ]

    def jobs(self, request: HttpRequest, state: str, queue: str) -> HttpResponse:
        """The jobs of ``queue`` in ``state``, in due order, a page at a time."""
        try:
            job_state = ops.parse_state(state)
        except UsageError:
            raise Http404(f"no job state named {state!r}") from None
        manage = can_manage(request)
        if request.method == "POST":
            if job_state not in _SELECTION_ACTIONS:
                return HttpResponseNotAllowed(["GET", "HEAD"])
            if not manage:
                raise PermissionDenied
            self._act_on_selection(request, _SELECTION_ACTIONS[job_state])
            return HttpResponseRedirect(request.get_full_path())
        settings, error = open_queue(queue)
        limit = choice_of(request.GET.get("limit"), PAGE_SIZES) or PAGE_SIZES[0]
        cursor = request.GET.get("cursor") or None
        errors = [_STORE_DOWN.format(error)] if error else []
        row: dict[str, Any] | None = None
        rows: list[dict[str, Any]] = []
        next_query: str | None = None
        lists = True
        if settings is not None and not errors:
            row = queue_row(settings, queue, pool_counts(settings))
            if row.get("error"):
                errors.append(_STORE_DOWN.format(row["error"]))
        # As on the queue page, an outage is said once: the listing is not asked too.
        if settings is not None and not errors:
            try:
                page = ops.list_jobs(settings, queue, job_state, limit=limit, cursor=cursor)
            except UnsupportedOperation:
                lists = False
            except UsageError as exc:  # a cursor edited by hand, or from another list
                errors.append(str(exc))
            except DQueueError as exc:
                errors.append(_STORE_DOWN.format(exc))
            else:
                rows = [self._row(view, manage=manage) for view in page.views]
                if page.cursor is not None:
                    next_query = urlencode({"cursor": page.cursor, "limit": limit})
        return render_page(
            self.site,
            request,
            "jobs.html",
            title=f"{state_label(job_state).capitalize()} jobs of queue {queue}",
            queue=queue,
            queue_url=admin_url(self.site, "dqueue_queue", queue),
            state=job_state.value,
            state_label=state_label(job_state),
            tabs=state_tabs(self.site, queue, row),
            row=row,
            rows=rows,
            errors=errors,
            lists=lists,
            can_manage=manage,
            actions=_SELECTION_ACTIONS.get(job_state, ()) if manage else (),
            limit=limit,
            limits=PAGE_SIZES,
            later_page=cursor is not None,
            next_query=next_query,
        )

    def _act_on_selection(self, request: HttpRequest, actions: tuple[str, ...]) -> None:
        """Cancel, or make due now, the jobs selected in a list.

        The command's words say how many were, and which were not and why (running, gone).
        """
        action = request.POST.get("action", "")
        ids = request.POST.getlist("ids")
        if action not in actions:
            messages.error(request, "Unknown action: nothing done.")
        elif not ids:
            messages.warning(request, "No jobs were selected: nothing done.")
        elif len(ids) > PAGE_SIZES[-1]:
            messages.error(request, f"Select at most {PAGE_SIZES[-1]} jobs: nothing done.")
        else:
            try:
                _run_command(request, get_settings(), action, ids)
            except DQueueError as exc:
                messages.error(request, str(exc))

    def _row(self, view: JobView, *, manage: bool) -> dict[str, Any]:
        """A job as a row of a list: the columns of ``queue_jobs``."""
        data = job_data(view)
        row = {key: data[key] for key in ("id", "task", "due_at", "attempt", "max_attempts")}
        row |= {key: data[key] for key in ("worker_id", "lease_until", "cancelled")}
        if manage and view.progress is not None:  # the task's own words, as on the job's page
            row["progress"] = json.dumps(view.progress)[:_PROGRESS_CHARS]
        row["url"] = job_link(self.site, view.job.id)
        if view.failure is not None:
            row["failure"] = _failure(view.failure, manage=manage)["summary"]
        return row

    def job(self, request: HttpRequest, job_id: str) -> HttpResponse:
        """One job: where it waits, its attempts and failures, and (to managers) its contents."""
        manage = can_manage(request)
        if request.method == "POST":
            if not manage:
                raise PermissionDenied
            return HttpResponseRedirect(self._act(request, job_id))
        detail: JobDetail | None = None
        errors: list[str] = []
        status = 200
        try:
            detail = ops.find_job(get_settings(), job_id)
        except JobNotFound as exc:
            errors.append(str(exc).capitalize())
            status = 404
        except UnsupportedOperation as exc:
            errors.append(f"This store cannot show single jobs: {exc}")
        except DQueueError as exc:
            errors.append(_STORE_DOWN.format(exc))
        fields = None if detail is None else self._fields(detail, manage=manage)
        response = render_page(
            self.site,
            request,
            "job.html",
            title=f"Job {job_id}",
            job_id=job_id,
            job=fields,
            errors=errors,
            can_manage=manage,
            manage_permission=MANAGE_PERMISSION,
        )
        response.status_code = status
        return response

    def _fields(self, detail: JobDetail, *, manage: bool) -> dict[str, Any]:
        """``queue_job --json``'s fields; without ``manage``, only those naming the job."""
        data = job_detail_data(detail)
        view = detail.view
        fields: dict[str, Any] = {
            key: data.get(key)
            for key in (
                "id",
                "task",
                "queue",
                "due_at",
                "enqueued_at",
                "attempt",
                "max_attempts",
                "worker_id",
                "lease_until",
            )
        }
        fields["state"] = "finished (no longer queued)" if view is None else state_label(view.state)
        fields["waiting"] = view is not None and view.state in (JobState.READY, JobState.DELAYED)
        fields["cancelled"] = view is not None and view.cancelled
        if data["queue"]:  # a result record may not know it
            fields["queue_url"] = admin_url(self.site, "dqueue_queue", data["queue"])
        if view is not None:
            fields["list_url"] = admin_url(
                self.site, "dqueue_jobs", state_name(view.state), data["queue"]
            )
        fields["failures"] = [
            _failure(JobFailure.from_dict(failure), manage=manage) for failure in data["failures"]
        ]
        result = data["result"]
        if result is not None:
            fields["result"] = {key: result[key] for key in ("status", "finished_at", "worker_ids")}
            if manage and result["return_value"] is not None:
                fields["result"]["returned"] = _json(result["return_value"])
        if manage:
            if data["progress"] is not None:  # the task's own words, as its return value
                fields["progress"] = json.dumps(data["progress"])  # one line: a status
            if data.get("raw") is not None:
                fields["raw"] = data["raw"]  # escaped and cut short
            else:
                fields["arguments"] = _json({"args": data["args"], "kwargs": data["kwargs"]})
                if data.get("meta"):
                    fields["meta"] = _json(data["meta"])
        return fields

    def _act(self, request: HttpRequest, job_id: str) -> str:
        """Do the POSTed action on the job; the command's words are the ``messages``.

        Returns the page to go to: the job's, or after a cancel the list it was in.
        """
        action = request.POST.get("action", "")
        back = admin_url(self.site, "dqueue_job", job_id)
        form = {key: request.POST.get(key, "").strip() or None for key in ("in", "at")}
        if action not in ("cancel", "run_now", "reschedule"):
            messages.error(request, "Unknown action: nothing done.")
            return back
        if action == "reschedule" and (form["in"] is None) == (form["at"] is None):
            messages.error(request, "Give either how long from now, or when (not both).")
            return back
        try:
            settings = get_settings()
            before = ops.find_job(settings, job_id).view
            if action == "reschedule":
                _run_command(request, settings, action, [job_id], in_=form["in"], at=form["at"])
            else:
                _run_command(request, settings, action, [job_id])
        except DQueueError as exc:
            messages.error(request, str(exc))
            return back
        if action == "cancel" and before is not None and before.state is not JobState.IN_FLIGHT:
            # It is gone: its page would only say so.
            return admin_url(self.site, "dqueue_jobs", state_name(before.state), before.job.queue)
        return back


def _run_command(
    request: HttpRequest,
    settings: Settings,
    action: str,
    ids: list[str],
    *,
    in_: str | None = None,
    at: str | None = None,
) -> None:
    """``queue_cancel`` (``cancel``) or ``queue_run_now`` on ``ids``; its lines are messages.

    Raises:
        DQueueError: as the command does (``JobNotFound`` naming the ids it did not change).
    """
    say = front(settings, partial(messages.success, request))
    if action == "cancel":
        job_commands.cancel(argparse.Namespace(ids=ids), say)
    else:
        job_commands.run_now(argparse.Namespace(ids=ids, in_=in_, at=at), say)


def _failure(failure: JobFailure, *, manage: bool) -> dict[str, Any]:
    """A failure: its exception's class name, and (with ``manage``) its message and traceback."""
    shown: dict[str, Any] = {
        "attempt": failure.attempt,
        "at": to_datetime(failure.at).isoformat(timespec="seconds") if failure.at else None,
        "summary": failure.exception_type.rsplit(".", 1)[-1],
    }
    if manage:
        shown["summary"] = ops.failure_summary(failure)
        shown["traceback"] = failure.traceback
    return shown


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=repr)
