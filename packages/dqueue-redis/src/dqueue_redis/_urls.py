"""The part of the Sentinel and Cluster URLs they share: a list of ``host:port``."""

from __future__ import annotations

from dqueue.errors import ConfigurationError

__all__ = ["host_port"]


def host_port(text: str, what: str) -> tuple[str, int]:
    """``host:port`` (``[v6]:port`` too) read from ``text``, one ``what`` of the URL.

    Raises:
        ConfigurationError: no host, or no port from 1 to 65535; the message names ``what``.
    """
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError(
            f"DQUEUE_REDIS_URL: {what} {text!r} must be host:port with a port from 1 to 65535"
        )
    return host.strip("[]"), int(port)
