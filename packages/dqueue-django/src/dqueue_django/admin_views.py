"""The views behind dqueue's admin pages: every queue, one queue, and the confirmations.

The numbers are those ``queue_status`` and ``queue_dead list`` print (the same
:mod:`dqueue.status` helpers). A store that cannot be reached is a banner on the page, never
a server error. Every change is a POST through the admin's CSRF protection, allowed only with
:data:`MANAGE_PERMISSION`, and ends in one ``messages`` line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from dqueue.backends import Backend, get_backend
from dqueue.clock import to_epoch
from dqueue.errors import DQueueError, UnsupportedOperation
from dqueue.registry import REGISTRY
from dqueue.settings import Settings, get_settings
from dqueue.status import dead_letters_data, status_data

from .durations import parse_duration, parse_until
from .queues import pool_counts

__all__ = ["LIMITS", "MANAGE_PERMISSION", "REFRESH_SECONDS", "QueueViews", "can_manage"]

#: Who may act on queues and see job arguments (superusers always may).
MANAGE_PERMISSION = "dqueue_django.manage_queues"
#: How many dead letters a queue's page shows, newest first (``?limit=``).
LIMITS = (20, 100, 500)
#: The queues page's auto-refresh choices, in seconds (``?refresh=``).
REFRESH_SECONDS = (5, 30)
# Confirmed on a page of their own: they delete jobs that nothing can bring back.
_CONFIRMED = {"clear": "Clear", "purge": "Purge all dead letters of"}

View = Callable[..., HttpResponse]


def can_manage(request: HttpRequest) -> bool:
    """Whether the user of ``request`` may change queues and see job arguments."""
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
        return [
            path("dqueue/queues/", wrap(self.queues), name="dqueue_queues"),
            # Queue names may hold slashes: the queue is the path's last part.
            path(
                "dqueue/confirm/<slug:action>/<path:queue>/",
                wrap(self.confirm),
                name="dqueue_confirm",
            ),
            path("dqueue/queue/<path:queue>/", wrap(self.queue), name="dqueue_queue"),
        ]

    def _render(self, request: HttpRequest, template: str, **context: Any) -> HttpResponse:
        request.current_app = self.site.name
        return TemplateResponse(
            request,
            f"admin/dqueue_django/{template}",
            {**self.site.each_context(request), "subtitle": None, **context},
        )

    def _queue_url(self, queue: str) -> str:
        return reverse("admin:dqueue_queue", args=[queue], current_app=self.site.name)

    @property
    def queues(self) -> View:
        """Every known queue: jobs by state, pause, lateness, backend and workers."""

        @require_http_methods(["GET", "HEAD"])
        def view(request: HttpRequest) -> HttpResponse:
            rows: list[dict[str, Any]] = []
            errors: list[str] = []
            try:
                settings = get_settings()
                workers = pool_counts(settings)
                for queue in known_queues(settings, errors):
                    rows.append(_queue_row(settings, queue, workers))
            except DQueueError as exc:
                errors.append(str(exc))
            if not errors:  # a store already named above would repeat on every row
                errors = [f"{row['queue']}: {row['error']}" for row in rows if row.get("error")]
            refresh = _choice(request.GET.get("refresh"), REFRESH_SECONDS)
            for row in rows:
                row["url"] = self._queue_url(row["queue"])
            return self._render(
                request,
                "queues.html",
                title="Queues",
                rows=rows,
                errors=errors,
                refresh=refresh,
                refresh_choices=REFRESH_SECONDS,
            )

        return view

    @property
    def queue(self) -> View:
        """One queue: its counts, its dead letters, and (with the permission) its controls."""

        @require_http_methods(["GET", "HEAD", "POST"])
        def view(request: HttpRequest, queue: str) -> HttpResponse:
            settings, backend, error = _open(queue)
            if request.method == "POST":
                if not can_manage(request):
                    raise PermissionDenied
                if backend is None:
                    messages.error(request, f"Nothing done: {error}")
                else:
                    _act(request, backend, queue)
                return HttpResponseRedirect(request.get_full_path())
            return self._render_queue(request, settings, backend, queue, error)

        return view

    def _render_queue(
        self,
        request: HttpRequest,
        settings: Settings | None,
        backend: Backend | None,
        queue: str,
        error: str | None,
    ) -> HttpResponse:
        manage = can_manage(request)
        limit = _choice(request.GET.get("limit"), LIMITS) or LIMITS[0]
        row: dict[str, Any] | None = None
        letters: list[dict[str, Any]] = []
        keeps_dead = True
        errors = [error] if error else []
        if settings is not None and backend is not None:
            row = _queue_row(settings, queue, pool_counts(settings), backend)
            if row.get("error"):
                errors.append(row["error"])
            try:
                letters = _letters(backend, queue, limit, show_arguments=manage)
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
            keeps_dead=keeps_dead,
            can_pause=bool(backend and backend.supports_pause),
            can_manage=manage,
            limit=limit,
            limits=LIMITS,
            queues_url=reverse("admin:dqueue_queues", current_app=self.site.name),
        )

    @property
    def confirm(self) -> View:
        """A page that asks before clearing a queue or purging all its dead letters."""

        @require_http_methods(["GET", "HEAD", "POST"])
        def view(request: HttpRequest, action: str, queue: str) -> HttpResponse:
            if action not in _CONFIRMED:
                raise Http404(f"no such action: {action}")
            if not can_manage(request):
                raise PermissionDenied
            settings, backend, error = _open(queue)
            back = self._queue_url(queue)
            if request.method == "POST":
                if backend is None:
                    messages.error(request, f"Nothing done: {error}")
                else:
                    _act(request, backend, queue, "clear" if action == "clear" else "purge_all")
                return HttpResponseRedirect(back)
            row = None
            if settings is not None and backend is not None:
                row = _queue_row(settings, queue, pool_counts(settings), backend)
            return self._render(
                request,
                "confirm.html",
                title=f"{_CONFIRMED[action]} queue {queue}?",
                action=action,
                queue=queue,
                row=row,
                errors=[error] if error else [],
                back_url=back,
                queues_url=reverse("admin:dqueue_queues", current_app=self.site.name),
            )

        return view


def known_queues(settings: Settings, errors: list[str]) -> list[str]:
    """Configured queues, queues of registered tasks, and those the stores hold.

    A store that cannot be reached adds its error to ``errors``; its configured queues are
    still listed.
    """
    known = {"default", *settings.BACKEND_OVERRIDES, *REGISTRY.queues(), *pool_counts(settings)}
    asked: set[str] = set()
    for queue in sorted(known):
        path_ = settings.backend_path(queue)
        if path_ in asked:
            continue
        asked.add(path_)
        try:
            stored = get_backend(queue, settings=settings).queues()
        except UnsupportedOperation:
            continue
        except DQueueError as exc:
            errors.append(f"{path_}: {exc}")
            continue
        known.update(q for q in stored if settings.backend_path(q) == path_)
    return sorted(known)


def _open(queue: str) -> tuple[Settings | None, Backend | None, str | None]:
    """The settings and backend of a known queue, or the error that stops us reaching them.

    Raises:
        Http404: nothing knows the queue.
    """
    try:
        settings = get_settings()
    except DQueueError as exc:
        return None, None, str(exc)
    errors: list[str] = []
    if queue not in known_queues(settings, errors) and not errors:
        raise Http404(f"no queue named {queue!r}")
    try:
        return settings, get_backend(queue, settings=settings), "; ".join(errors) or None
    except DQueueError as exc:
        return settings, None, str(exc)


def _queue_row(
    settings: Settings, queue: str, workers: dict[str, int], backend: Backend | None = None
) -> dict[str, Any]:
    """The ``status_data`` row of ``queue`` plus its workers, or the error reading it."""
    backends = {queue: settings.backend_path(queue)}
    try:
        counts = (backend or get_backend(queue, settings=settings)).counts(queue)
    except DQueueError as exc:
        return {
            "queue": queue,
            "backend": backends[queue],
            "workers": workers.get(queue, 0),
            "error": str(exc),
        }
    (row,) = status_data([counts], backends)
    row["workers"] = workers.get(queue, 0)
    return row


def _letters(
    backend: Backend, queue: str, limit: int, *, show_arguments: bool
) -> list[dict[str, Any]]:
    """``dead_letters_data`` with a one-line failure summary; arguments only when allowed."""
    rows = dead_letters_data(backend.dead_letters(queue, limit=limit))
    for row in rows:
        failure = row["failure"]
        kind = str(failure["exception_type"]).rsplit(".", 1)[-1]
        first_line = (str(failure["message"]).splitlines() or [""])[0]
        row["summary"] = f"{kind}: {first_line}" if first_line else kind
        # Some stores keep the envelope as it was enqueued (attempt 0); the failure knows
        # which run failed.
        row["failed_attempt"] = max(row["attempt"], int(failure.get("attempt") or 0))
        if show_arguments:
            row["arguments"] = json.dumps(
                {"args": row["args"], "kwargs": row["kwargs"]},
                indent=2,
                sort_keys=True,
                default=str,
            )
        # The raw payload holds the arguments too; neither is shown without the permission.
        for key in ("args", "kwargs", "raw"):
            if not show_arguments:
                row.pop(key)
    return rows


def _act(request: HttpRequest, backend: Backend, queue: str, action: str | None = None) -> None:
    """Do the POSTed action on ``queue`` and say how it went in one ``messages`` line."""
    action = action or request.POST.get("action", "")
    selected = action in ("retry", "purge")
    ids = list(dict.fromkeys(request.POST.getlist("ids"))) if selected else []
    try:
        if selected and not ids:
            messages.warning(request, "No dead letters were selected: nothing done.")
        elif action in ("retry", "retry_all"):
            count = backend.retry_dead(queue, ids or None)
            _say(request, f"Put {count} dead job(s) back on queue {queue}.", ids, count)
        elif action in ("purge", "purge_all"):
            count = backend.purge_dead(queue, ids or None)
            _say(request, f"Deleted {count} dead job(s) of queue {queue}.", ids, count)
        elif action == "clear":
            count = backend.clear(queue)
            messages.success(request, f"Deleted {count} waiting job(s) of queue {queue}.")
        elif action == "pause":
            until = _pause_until(request)
            backend.pause(queue, to_epoch(until))
            shown = until.astimezone(timezone.get_current_timezone()).isoformat(" ", "seconds")
            messages.success(request, f"Paused queue {queue} until {shown}.")
        elif action == "resume":
            backend.resume(queue)
            messages.success(request, f"Resumed queue {queue}.")
        else:
            messages.error(request, f"Unknown action {action!r}: nothing done.")
    except DQueueError as exc:
        messages.error(request, f"Queue {queue}: {exc}")


def _say(request: HttpRequest, done: str, ids: Sequence[str], count: int) -> None:
    """A success line, or a warning when some selected ids were not dead letters (any more)."""
    if ids and count < len(ids):
        messages.warning(
            request,
            f"{done} {len(ids) - count} of the {len(ids)} selected were no longer dead letters.",
        )
    else:
        messages.success(request, done)


def _pause_until(request: HttpRequest) -> datetime:
    """The end of the pause the form asks for: exactly one of "for" and "until"."""
    duration = request.POST.get("for", "").strip()
    until = request.POST.get("until", "").strip()
    if bool(duration) == bool(until):
        raise _FormError("Give either how long to pause for, or until when (not both).")
    now = timezone.now()
    if duration:
        return now + parse_duration(duration)
    return parse_until(until, now=now, default_tz=timezone.get_current_timezone())


class _FormError(DQueueError, ValueError):
    """The pause form was filled in wrongly."""


def _choice(value: str | None, choices: Sequence[int]) -> int | None:
    """``value`` as one of ``choices``, else ``None`` (hand-edited query strings)."""
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number in choices else None
