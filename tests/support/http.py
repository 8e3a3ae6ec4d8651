"""Asking dqueue's HTTP endpoints (metrics, worker targets, health) from tests."""

from __future__ import annotations

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
