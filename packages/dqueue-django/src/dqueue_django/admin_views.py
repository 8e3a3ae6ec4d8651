"""The views behind dqueue's admin pages: every queue, one queue, and the confirmations.

The numbers are those ``queue_status`` and ``queue_dead list`` print (the same
:mod:`dqueue.ops` operations). A store that cannot be reached is a banner on the page, never
a server error. Every change is a POST through the admin's CSRF protection, allowed only with
:data:`MANAGE_PERMISSION`, and ends in one ``messages`` line.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from functools import partial
from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from dqueue import ops
from dqueue.backends import get_backend
from dqueue.backends.inspection import JobState
from dqueue.cli import control
from dqueue.cli.control import Handler
from dqueue.errors import DQueueError, UnsupportedOperation
from dqueue.ops.jobs import STATE_NAMES, state_name
from dqueue.settings import Settings, get_settings

from .queues import front, pool_counts

__all__ = [
    "LIMITS",
    "MANAGE_PERMISSION",
    "REFRESH_SECONDS",
    "QueueViews",
    "admin_url",
    "can_manage",
    "choice_of",
    "job_link",
    "open_queue",
    "queue_row",
    "render_page",
    "state_label",
    "state_tabs",
]

#: Who may act on queues and see job arguments, failure messages and tracebacks (superusers
#: always may).
MANAGE_PERMISSION = "dqueue_django.manage_queues"
#: How many dead letters a queue's page shows, newest first (``?limit=``).
LIMITS = (20, 100, 500)
#: The queues page's auto-refresh choices, in seconds (``?refresh=``).
REFRESH_SECONDS = (5, 30)
# Confirmed on a page of their own: they delete jobs that nothing can bring back.
_CONFIRMED = {"clear": "Clear", "purge": "Purge all dead letters of"}


def can_manage(request: HttpRequest) -> bool:
    """Whether the user of ``request`` may change queues and see what jobs hold."""
    user = request.user
    # A custom user model without PermissionsMixin has neither attribute: it may not act.
    staff = getattr(user, "is_staff", False)
    has_perm: Callable[[str], bool] | None = getattr(user, "has_perm", None)
    return bool(user.is_active and staff and has_perm and has_perm(MANAGE_PERMISSION))


@dataclass(frozen=True)
class QueueViews:
    """The pages of one admin site."""

    site: AdminSite

    def urls(self) -> list[URLPattern]:
        """The pages' URLs, each behind the site's login, staff check and CSRF protection."""
        wrap = self.site.admin_view
        read = require_http_methods(["GET", "HEAD"])
        act = require_http_methods(["GET", "HEAD", "POST"])
        return [
            path("dqueue/queues/", wrap(read(self.queues)), name="dqueue_queues"),
            # Queue names may hold slashes: the queue is the path's last part.
            path(
                "dqueue/confirm/<slug:action>/<path:queue>/",
                wrap(act(self.confirm)),
                name="dqueue_confirm",
            ),
            path("dqueue/queue/<path:queue>/", wrap(act(self.queue)), name="dqueue_queue"),
        ]

    def _url(self, name: str, *args: str) -> str:
        return admin_url(self.site, name, *args)

    def _render(self, request: HttpRequest, template: str, **context: Any) -> HttpResponse:
        return render_page(self.site, request, template, **context)

    def queues(self, request: HttpRequest) -> HttpResponse:
        """Every known queue: jobs by state, pause, lateness, backend and workers."""
        rows: list[dict[str, Any]] = []
        errors: list[str] = []
        try:
            settings = get_settings()
            listing = front(settings).list_queues(keep_going=True)
            errors.extend(listing.errors)
            workers = pool_counts(settings)
            rows = [queue_row(settings, queue, workers) for queue in listing.queues]
        except DQueueError as exc:
            errors.append(str(exc))
        if not errors:  # a store already named above would repeat on every row
            errors = [f"{row['queue']}: {row['error']}" for row in rows if row.get("error")]
        for row in rows:
            row["url"] = self._url("dqueue_queue", row["queue"])
        return self._render(
            request,
            "queues.html",
            title="Queues",
            rows=rows,
            errors=errors,
            refresh=choice_of(request.GET.get("refresh"), REFRESH_SECONDS),
            refresh_choices=REFRESH_SECONDS,
        )

    def queue(self, request: HttpRequest, queue: str) -> HttpResponse:
        """One queue: its counts, its dead letters, and (with the permission) its controls."""
        settings, error = open_queue(queue)
        manage = can_manage(request)
        if request.method == "POST":
            if not manage:
                raise PermissionDenied
            _act(request, settings, error, queue, request.POST.get("action", ""))
            return HttpResponseRedirect(request.get_full_path())
        limit = choice_of(request.GET.get("limit"), LIMITS) or LIMITS[0]
        row: dict[str, Any] | None = None
        letters: list[dict[str, Any]] = []
        keeps_dead, can_pause = True, False
        errors = [error] if error else []
        if settings is not None:
            row = queue_row(settings, queue, pool_counts(settings))
            if row.get("error") and not errors:
                errors.append(row["error"])
        # A store that can't be read is said once: asking it for dead letters too would only
        # put the same outage in a second and a third banner.
        if settings is not None and not errors:
            try:
                can_pause = get_backend(queue, settings=settings).supports_pause
                letters = _letters(settings, queue, limit, manage=manage)
                for letter in letters:
                    letter["url"] = job_link(self.site, letter["id"])
            except UnsupportedOperation:
                keeps_dead = False
            except DQueueError as exc:
                errors.append(str(exc))
        return self._render(
            request,
            "queue.html",
            title=f"Queue {queue}",
            queue=queue,
            row=row,
            letters=letters,
            errors=errors,
            tabs=state_tabs(self.site, queue, row),
            keeps_dead=keeps_dead,
            can_pause=can_pause,
            can_manage=manage,
            manage_permission=MANAGE_PERMISSION,
            until_example=_until_example(),
            limit=limit,
            limits=LIMITS,
            refresh=choice_of(request.GET.get("refresh"), REFRESH_SECONDS),
            refresh_choices=REFRESH_SECONDS,
        )

    def confirm(self, request: HttpRequest, action: str, queue: str) -> HttpResponse:
        """A page that asks before clearing a queue or purging all its dead letters."""
        if action not in _CONFIRMED:
            raise Http404(f"no such action: {action}")
        if not can_manage(request):
            raise PermissionDenied
        settings, error = open_queue(queue)
        back = self._url("dqueue_queue", queue)
        if request.method == "POST":
            _act(request, settings, error, queue, "clear" if action == "clear" else "purge_all")
            return HttpResponseRedirect(back)
        return self._render(
            request,
            "confirm.html",
            title=f"{_CONFIRMED[action]} queue {queue}?",
            action=action,
            queue=queue,
            row=None if settings is None else queue_row(settings, queue, pool_counts(settings)),
            errors=[error] if error else [],
            back_url=back,
        )


def admin_url(site: AdminSite, name: str, *args: str) -> str:
    """The URL of the page ``name`` (``dqueue_queue``, ...) of ``site`` with ``args``."""
    return reverse(f"admin:{name}", args=args, current_app=site.name)


def render_page(
    site: AdminSite, request: HttpRequest, template: str, **context: Any
) -> TemplateResponse:
    """``template`` (of ``admin/dqueue_django/``) as a page of ``site``, with ``context``."""
    request.current_app = site.name
    return TemplateResponse(
        request,
        f"admin/dqueue_django/{template}",
        {
            **site.each_context(request),
            "subtitle": None,
            "queues_url": admin_url(site, "dqueue_queues"),
            **context,
        },
    )


def job_link(site: AdminSite, job_id: str) -> str | None:
    """The URL of the page of job ``job_id``; ``None`` for an id no URL can hold (a newline)."""
    try:
        return admin_url(site, "dqueue_job", job_id)
    except NoReverseMatch:  # an id a store holds is untrusted text: no page, no server error
        return None


def state_label(state: JobState) -> str:
    """A state in the words of ``status`` and the counts table: ``in flight``."""
    return state_name(state).replace("-", " ")


def state_tabs(site: AdminSite, queue: str, row: dict[str, Any] | None) -> list[dict[str, Any]]:
    """A link to the jobs of ``queue`` in each state, with its count from ``row`` if read."""
    counts = row if row is not None and not row.get("error") else {}
    return [
        {
            "state": state.value,
            "label": state_label(state),
            "count": counts.get(state.value),
            "url": admin_url(site, "dqueue_jobs", name, queue),
        }
        for name, state in STATE_NAMES.items()
    ]


def open_queue(queue: str) -> tuple[Settings | None, str | None]:
    """The settings, if a known queue can be reached, or the error that stops us reaching it.

    Raises:
        Http404: nothing knows the queue.
    """
    try:
        settings = get_settings()
        listing = front(settings).list_queues(keep_going=True)
    except DQueueError as exc:
        return None, str(exc)
    if queue not in listing.queues and not listing.errors:
        raise Http404(f"no queue named {queue!r}")
    return settings, "; ".join(listing.errors) or None


def queue_row(settings: Settings, queue: str, workers: dict[str, int]) -> dict[str, Any]:
    """The status of ``queue`` plus its workers, or the error reading it."""
    try:
        (status,) = ops.queue_status(settings, [queue])
    except DQueueError as exc:
        row: dict[str, Any] = {"queue": queue, "error": str(exc)}
        row["backend"] = settings.backend_path(queue)
    else:
        row = status.to_dict()
    row["workers"] = workers.get(queue, 0)
    return row


def _letters(settings: Settings, queue: str, limit: int, *, manage: bool) -> list[dict[str, Any]]:
    """Dead letters as rows; the failure's words, traceback and arguments only with ``manage``.

    Failure messages and tracebacks echo arguments as often as not (``ValueError(f"bad {card}")``),
    so without the permission a row holds only what names the job and the kind of failure.
    """
    rows = []
    for letter in ops.dead_letters(settings, queue, limit=limit):
        data = ops.dead_letter_data(letter)
        row = {key: data[key] for key in ("id", "task", "max_attempts", "died_at")}
        # Some stores keep the envelope as it was enqueued (attempt 0); the failure knows
        # which run failed.
        row["failed_attempt"] = max(letter.job.attempt, letter.failure.attempt)
        row["summary"] = letter.failure.exception_type.rsplit(".", 1)[-1]
        if manage:
            arguments = {"args": data["args"], "kwargs": data["kwargs"]}
            row["summary"] = ops.failure_summary(letter.failure)
            row["traceback"] = letter.failure.traceback
            row["arguments"] = json.dumps(arguments, indent=2, sort_keys=True, default=str)
            row["raw"] = data["raw"]  # escaped and cut short
        rows.append(row)
    return rows


#: What each button does: the handler that ``manage.py`` runs too, and its options.
_ACTIONS: dict[str, tuple[Handler, dict[str, Any]]] = {
    "retry": (control.dead, {"dead_command": "retry"}),
    "retry_all": (control.dead, {"dead_command": "retry", "all": True}),
    "purge": (control.dead, {"dead_command": "purge"}),
    "purge_all": (control.dead, {"dead_command": "purge", "all": True, "yes": True}),
    "clear": (control.clear, {"yes": True}),
    "pause": (control.pause, {}),
    "resume": (control.resume, {}),
}


def _act(
    request: HttpRequest, settings: Settings | None, error: str | None, queue: str, action: str
) -> None:
    """Do the POSTed action on ``queue``; the command's own words are the ``messages``."""
    form = {key: request.POST.get(key, "").strip() or None for key in ("for", "until")}
    ids = request.POST.getlist("ids")
    if settings is None:
        messages.error(request, f"Nothing done: {error}")
    elif action not in _ACTIONS:
        messages.error(request, "Unknown action: nothing done.")
    elif action in ("retry", "purge") and not ids:
        messages.warning(request, "No dead letters were selected: nothing done.")
    elif action == "pause" and (form["for"] is None) == (form["until"] is None):
        messages.error(request, "Give either how long to pause for, or until when (not both).")
    else:
        handler, extra = _ACTIONS[action]
        options = {"queue": queue, "ids": ids, "all": False, "for_": form["for"]}
        args = argparse.Namespace(**(options | {"until": form["until"]} | extra))
        try:
            handler(args, front(settings, partial(messages.success, request)))
        except DQueueError as exc:
            messages.error(request, f"Queue {queue}: {exc}")


def _until_example() -> str:
    """The pause form's example end: tomorrow at 09:00 in the current time zone, never past."""
    tomorrow = timezone.localtime() + timedelta(days=1)
    return tomorrow.replace(hour=9, minute=0, second=0, microsecond=0).isoformat()


def choice_of(value: str | None, choices: Sequence[int]) -> int | None:
    """``value`` as one of ``choices``, else ``None`` (hand-edited query strings)."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number in choices else None
