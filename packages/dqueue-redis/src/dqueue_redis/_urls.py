"""What the Sentinel and Cluster URLs share: credentials and a list of ``host:port``."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

from dqueue.errors import ConfigurationError

__all__ = ["HostListURL", "host_port", "parse_host_list"]


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


@dataclass(frozen=True)
class HostListURL:
    """A ``scheme://[user:password@]host:port[,host:port...][/path]`` URL, read."""

    hosts: tuple[tuple[str, int], ...]
    #: What follows the hosts, without its query and outer slashes (still quoted).
    path: str
    username: str | None
    password: str | None
    #: The scheme is the second (TLS) one of the two given.
    tls: bool


def parse_host_list(
    url: str, schemes: tuple[str, str], *, system: str, host_word: str, usage: str
) -> HostListURL:
    """Read the URL of a ``system`` (Sentinel, Redis Cluster) that names several hosts.

    Raises:
        ConfigurationError: another scheme, no host, or a host without a valid port; the
            message names the part (``host_word``, ``usage`` for the form), never the password.
    """
    scheme, _, rest = url.partition("://")
    if scheme not in schemes:
        raise ConfigurationError(f"DQUEUE_REDIS_URL: {scheme!r} is not a {system} scheme")
    netloc, _, path = rest.partition("/")
    credentials, _, hosts = netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    found = tuple(host_port(host, host_word) for host in hosts.split(",") if host)
    if not found:
        raise ConfigurationError(f"DQUEUE_REDIS_URL names no {host_word}: write {usage}")
    return HostListURL(
        found,
        path.partition("?")[0].strip("/"),
        unquote(username) or None,
        unquote(password) or None,
        tls=scheme == schemes[1],
    )
