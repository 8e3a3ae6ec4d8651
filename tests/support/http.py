"""Asking dqueue's HTTP endpoints (metrics, worker targets, health) from tests."""

from __future__ import annotations

import http.client
import urllib.error
import urllib.request


def get(url: str, method: str = "GET") -> tuple[int, str, str]:
    """``(status, content type, body)`` of a request; an error status is returned, not raised."""
    request = urllib.request.Request(url, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers["Content-Type"], exc.read().decode()


def answers(url: str, status: int = 200) -> bool:
    """Whether ``url`` answers with ``status`` now; ``False`` while nothing serves it yet.

    Not serving yet includes a garbled answer: a connection to a free port of the ephemeral
    range may be the client's own socket connected to itself (TCP simultaneous open), which
    echoes the request back as the "status line".
    """
    try:
        return get(url)[0] == status
    except (OSError, http.client.HTTPException):
        return False
